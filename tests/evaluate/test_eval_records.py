"""results.jsonl holds typed `SampleResult` records; `eval score` reads its settings through `EvalConfig`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.cli import app
from codesft.evaluate.config import EvalConfig

PROBLEMS = [
    {"task_id": "t/add", "prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(7, 2) == 9\n"},
    {"task_id": "t/sub", "prompt": "def sub(a, b):\n", "canonical_solution": "    return a - b\n", "entry_point": "sub",
     "test": "def check(candidate):\n    assert candidate(7, 2) == 5\n"},
]


@pytest.fixture
def scored(tmp_path) -> tuple[str, Path]:
    bench = tmp_path / "problems.jsonl"
    bench.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in [
        {"task_id": "t/add", "completion": "    return a + b\n"}, {"task_id": "t/add", "completion": ""},
        {"task_id": "t/sub", "solution": "def sub(a, b):\n    return 0\n"}]))
    return f"jsonl:{bench}", samples


def _score(bench: str, samples: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["eval", "score", "--benchmark", bench, "--samples", str(samples),
                                    "--out", str(out), "--no-text-metrics", *extra])


def test_every_results_line_is_a_sample_result_written_as_its_dump(scored, tmp_path):
    from codesft.evaluate.results import SampleResult

    bench, samples = scored
    out = tmp_path / "out"
    r = _score(bench, samples, out)
    assert r.exit_code == 0, r.output
    lines = (out / "results.jsonl").read_text().splitlines()
    records = [SampleResult.model_validate_json(line) for line in lines]
    assert [(x.key, x.status, x.passed) for x in records] == [
        ("t/add#0", "passed", True), ("t/add#1", "failed", False), ("t/sub#0", "failed", False)]
    assert [json.dumps(x.model_dump(), ensure_ascii=False, sort_keys=True) for x in records] == lines


def test_eval_score_takes_its_settings_and_their_checks_from_eval_config(scored, tmp_path):
    bench, samples = scored
    out = tmp_path / "out"
    r = _score(bench, samples, out)
    assert r.exit_code == 0, r.output
    defaults = EvalConfig()
    sandbox = json.loads((out / "summary.json").read_text())["sandbox"]
    assert sandbox == {"timeout_s": defaults.timeout_s, "memory_mb": defaults.memory_mb}
    for bad, field in ((["--timeout-s", "0"], "timeout_s"), (["--memory-mb", "8"], "memory_mb")):
        r = _score(bench, samples, tmp_path / "bad", *bad)
        assert r.exit_code == 2 and f"field '{field}'" in r.output, (bad, r.output)
        assert not (tmp_path / "bad").exists()
