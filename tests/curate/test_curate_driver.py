"""The curate driver runs the declared stage list: a stage added to `STAGES` runs with no other change, an order
it cannot run is refused before any work, verify holds one sandbox pool for the run, and nothing rejected
reaches the bundle in clear even when the redact stage is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

FAST = ["--verify.enabled", "false", "--decontam.enabled", "false"]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def _rec(i: int, solution: str | None = None) -> str:
    return json.dumps({"id": f"q{i}", "problem": f"Return {i}.",
                       "solution": solution or f"def f{i}():\n    return {i}\n", "tests": f"assert f{i}() == {i}"})


def _curate(tmp_path: Path, lines: list[str], *args: str) -> Path:
    from codesft.cli import app

    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["curate", "--input", f"eval_questions:{tmp_path / 'q.jsonl'}", "--out",
                                      str(tmp_path / "out"), "--name", "b", *args])
    assert result.exit_code == 0, result.output
    return tmp_path / "out" / "b" / "v1.0.0"


def _no_todo(s, cfg) -> str | None:
    return "todo_left: the solution says TODO" if s.code and "TODO" in (s.code.solution or "") else None


def test_a_stage_added_to_the_list_runs_in_its_place(tmp_path: Path, monkeypatch):
    """One function and one line in STAGES: the driver runs it in the workers, in the declared order."""
    from codesft.curate import driver, pipeline

    stages = list(pipeline.STAGES)
    stages.insert([st.name for st in stages].index("gate") + 1, driver.Filter("no_todo", _no_todo))
    monkeypatch.setattr(pipeline, "STAGES", tuple(stages))
    monkeypatch.setattr(pipeline, "LAYOUT", driver.layout(stages))
    bundle = _curate(tmp_path, [_rec(0), _rec(1, "def f1():\n    return 1  # TODO\n"), _rec(2)], *FAST,
                     "--workers", "2")
    rejected = [json.loads(line) for line in (bundle / "rejected.jsonl").read_text().splitlines()]
    assert [(r["sample_id"] != "", r["reason"].split(":")[0], r["stage"]) for r in rejected] == [
        (True, "todo_left", "no_todo")]
    assert json.loads((bundle / "manifest.json").read_text())["counts"]["rejected_by_stage"] == {"no_todo": 1}


def test_an_order_the_driver_cannot_run_is_refused():
    from codesft.curate import driver, pipeline

    names = [st.name for st in pipeline.STAGES]
    late = [*pipeline.STAGES, driver.Map("late", lambda s, cfg: s)]
    with pytest.raises(ValueError, match="'late': a per-record stage must come before the whole-dataset stages"):
        driver.layout(late)
    assert [st.name for st in driver.layout(pipeline.STAGES).head] == names[:names.index("dedup")]


def test_verify_holds_one_sandbox_pool_for_the_run(tmp_path: Path, monkeypatch):
    """Batches of one record each: every batch runs in the same pool (a pool starts its workers)."""
    import codesft.sandbox
    import codesft.evaluate.canary

    monkeypatch.setattr(codesft.evaluate.canary, "check_sandbox", lambda *a, **k: None)  # it starts a pool of its own
    pools: list[object] = []
    real = codesft.sandbox.SandboxPool.__init__

    def counted(self, *a, **k):
        pools.append(self)
        real(self, *a, **k)

    monkeypatch.setattr(codesft.sandbox.SandboxPool, "__init__", counted)
    bundle = _curate(tmp_path, [_rec(i) for i in range(3)], "--decontam.enabled", "false",
                     "--verify.batch-size", "1", "--verify.workers", "1")
    samples = [json.loads(line) for line in (bundle / "samples.jsonl").read_text().splitlines()]
    assert [s["quality"]["verification"]["status"] for s in samples] == ["passed"] * 3
    assert len(pools) == 1


def test_nothing_rejected_leaves_in_clear_with_the_redact_stage_off(tmp_path: Path):
    """The records' redact stage is off, yet rejected records and unreadable lines reach rejected.jsonl redacted."""
    vetoed = f"import subprocess\n\ndef f1():\n    key = '{AWS_KEY}'\n    return subprocess.call(key, shell=True)\n"
    bundle = _curate(tmp_path, [_rec(0), _rec(1, vetoed), "{not json " + AWS_KEY], *FAST, "--redact.enabled", "false")
    text = (bundle / "rejected.jsonl").read_text()
    assert AWS_KEY not in text and text.count("[REDACTED:") >= 2, text
    assert {json.loads(line)["reason"].split(":")[0] for line in text.splitlines()} >= {"veto"}


def test_redact_rejected_entry_returns_an_entry_without_findings_unchanged():
    from codesft.curate.redact import redact_rejected_entry

    clean = {"file": "q.jsonl", "line": 3, "reason": "veto: x", "excerpt": "nothing secret"}
    assert redact_rejected_entry(clean) is clean
    dirty = {**clean, "excerpt": f"key {AWS_KEY}"}
    out = redact_rejected_entry(dirty)
    assert AWS_KEY not in json.dumps(out) and dirty["excerpt"].endswith(AWS_KEY)
