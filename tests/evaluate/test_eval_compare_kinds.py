"""`eval compare` on two hand-made runs: the kind each lost and won problem failed with; a significant
regression (McNemar p < 0.05, negative difference) stated first in the text output and at the top of
comparison.html; a non-significant difference not called a regression; an old results.jsonl without `kind`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from codesft.cli import app


def _suite(status: str, reason: str = "", first_error: str = "") -> dict:
    return {"base": {"status": status, "reason": reason, "first_error": first_error, "tests": [status == "passed"]}}


def _old_record(task: str, status: str, reason: str = "", code: str = "x = 1\n") -> dict:
    """A results.jsonl line written before kinds existed: no `kind` key."""
    return {"task_id": task, "sample_index": 0, "key": f"{task}#0", "category": "all", "passed": status == "passed",
            "status": status, "reason": reason, "code": code, "raw_output": code, "finish_reason": "stop",
            "generation_error": "", "suites": _suite(status, reason.removeprefix("base: "))}


def _record(task: str, kind: str) -> dict:
    status = "passed" if kind == "passed" else "failed"
    return {"task_id": task, "sample_index": 0, "key": f"{task}#0", "category": "all", "passed": kind == "passed",
            "status": status, "kind": kind, "suites": _suite(status)}


def _write(run: Path, records: list[dict]) -> Path:
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def _compare(tmp_path: Path, *runs: Path):
    return CliRunner().invoke(app, ["eval", "compare", *map(str, runs), "--out", str(tmp_path / "cmp")])


TASKS = [f"t/{i:02d}" for i in range(12)]


def test_lost_and_won_problems_carry_their_kinds_and_a_significant_regression_leads(tmp_path):
    # baseline (an old file, no `kind`): solves t/00..t/09; t/10 fails on a syntax error, t/11 on an assert
    base = [_old_record(t, "passed") for t in TASKS[:10]]
    base.append(_old_record("t/10", "failed", "base: code: SyntaxError: invalid syntax (<program>, line 1)"))
    base.append(_old_record("t/11", "failed", "base: check: AssertionError"))
    # candidate: loses t/00..t/07 (format drift and wrong logic), wins t/10
    lost = {"t/00": "truncated", "t/01": "truncated", "t/02": "truncated", "t/03": "no_code",
            "t/04": "syntax_error", "t/05": "wrong_answer", "t/06": "wrong_answer", "t/07": "name_or_import_error"}
    cand = [_record(t, lost.get(t, "passed")) for t in TASKS[:10]]
    cand += [_record("t/10", "passed"), _record("t/11", "wrong_answer")]
    a, b = _write(tmp_path / "base", base), _write(tmp_path / "cand", cand)

    r = _compare(tmp_path, a, b)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    # 8 lost, 1 won: McNemar p = 2 * 9 / 2**9 = 0.035 < 0.05, difference -7/12
    assert lines[0].startswith(f"SIGNIFICANT REGRESSION: {b} is worse than the baseline")
    assert "truncated 3" in lines[0] and "wrong_answer 2" in lines[0]
    assert "t/00 (truncated)" in r.output and "t/03 (no_code)" in r.output and "t/07 (name_or_import_error)" in r.output
    assert "won (the kind the baseline failed with): t/10 (syntax_error)" in r.output  # computed from the old file

    c = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["comparisons"][0]
    assert c["significant_regression"] is True and c["mcnemar"]["p_value"] < 0.05
    assert {x["task_id"]: x["candidate"] for x in c["lost_kinds"]} == lost
    assert all(x["baseline"] is None for x in c["lost_kinds"])
    assert c["won_kinds"] == [{"task_id": "t/10", "baseline": "syntax_error", "candidate": None}]
    assert c["lost_by_kind"]["truncated"] == 3
    html = (tmp_path / "cmp" / "comparison.html").read_text()
    top = html.split("<h2>", 1)[0]  # before the first comparison's section
    assert "SIGNIFICANT REGRESSION" in top
    assert "<td>t/00</td><td>—</td><td>truncated</td>" in html


def test_a_non_significant_loss_is_not_called_a_regression(tmp_path):
    base = [_old_record(t, "passed") for t in TASKS]
    # lost two problems: p = 0.5, no regression; one problem of an old file without suites has an unknown kind
    cand = [_record(t, "passed") for t in TASKS[2:]] + [_record("t/00", "runtime_error")]
    cand.append({"task_id": "t/01", "passed": False})
    a, b = _write(tmp_path / "base", base), _write(tmp_path / "cand", cand)

    r = _compare(tmp_path, a, b)
    assert r.exit_code == 0, r.output
    assert "regression" not in r.output.lower()
    assert r.output.splitlines()[0].startswith(f"{b} is not significantly different from the baseline")
    assert "t/00 (runtime_error), t/01 (unknown)" in r.output
    c = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["comparisons"][0]
    assert c["significant_regression"] is False and c["difference"] < 0
    assert "regression" not in (tmp_path / "cmp" / "comparison.html").read_text().lower()
