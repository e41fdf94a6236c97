"""Failure kinds: a hand-made program for each kind through the real sandbox (`eval score`, one pool), the
generation-side kinds through `eval run` against a fake server, and their counts and examples in summary.json
and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.cli import app
from codesft.evaluate.config import EvalConfig
from codesft.evaluate.kinds import KINDS
from codesft.evaluate.runner import run_eval

FENCE = "`" * 3

PROBLEMS = [
    # HumanEval style: check(candidate) after the program
    {"task_id": "t/add", "prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"},
    # plain asserts: independent tests, each with its own outcome
    {"task_id": "t/sub", "prompt": "def sub(a, b):\n", "canonical_solution": "    return a - b\n", "entry_point": "sub",
     "test": "assert sub(3, 1) == 2\nassert sub(0, 0) == 0\n"},
]

# (task, solution, expected kind): each is a program a model could write.
SOLUTIONS = [
    ("t/add", "def add(a, b):\n    return a + b\n", "passed"),
    ("t/add", "def add(a, b)\n    return a + b\n", "syntax_error"),
    ("t/add", "import no_such_module_xyz\n\ndef add(a, b):\n    return a + b\n", "name_or_import_error"),
    ("t/add", "def plus(a, b):\n    return a + b\n", "name_or_import_error"),          # missing entry point
    ("t/add", "def add(a, b):\n    return [a, b][2]\n", "runtime_error"),
    ("t/add", "def add(a, b):\n    return a - b\n", "wrong_answer"),
    ("t/add", "def add(a, b):\n    while True:\n        pass\n", "timeout"),
    ("t/add", "def add(a, b):\n    return len(bytearray(1 << 40))\n", "memory"),
    ("t/add", "", "no_code"),
    ("t/sub", "def sub(a, b):\n    return a + b\n", "wrong_answer"),                  # a failing assert test
    ("t/sub", "def subtract(a, b):\n    return a - b\n", "name_or_import_error"),      # NameError in the tests
    ("t/sub", "def sub(a, b):\n    return a / 0\n", "runtime_error"),                 # ZeroDivisionError in the tests
]


@pytest.fixture
def bench(tmp_path) -> str:
    p = tmp_path / "problems.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in PROBLEMS))
    return f"jsonl:{p}"


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_each_kind_from_a_hand_made_program_in_the_sandbox(bench, tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": code}) + "\n" for t, code, _ in SOLUTIONS))
    out = tmp_path / "scored"
    # a 2 s wall clock keeps the endless loop short; the other programs finish in milliseconds
    r = CliRunner().invoke(app, ["eval", "score", "--benchmark", bench, "--samples", str(samples), "--out", str(out),
                                 "--no-text-metrics", "--timeout-s", "2", "--workers", "2"])
    assert r.exit_code == 0, r.output
    got = [(x["task_id"], x["kind"]) for x in _results(out)]
    # results.jsonl is sorted by (task, sample index): the same order as SOLUTIONS
    assert got == [(t, kind) for t, _, kind in SOLUTIONS], [(x["key"], x["reason"]) for x in _results(out)]

    summary = json.loads((out / "summary.json").read_text())
    expected = {k: sum(1 for *_, kind in SOLUTIONS if kind == k) for k in KINDS}
    assert summary["kinds"] == expected
    html = (out / "report.html").read_text()
    assert "share of samples by kind" in html
    for kind in set(expected) - {"passed", "truncated"}:
        assert f"<h3>{kind} (" in html, kind
    # the raw output sits beside the extracted program, escaped
    assert "<b>raw output</b>" in html and "<b>extracted program</b>" in html


def test_truncated_no_code_and_generation_errors_from_eval_run(fake_openai, bench, tmp_path):
    cut = f"{FENCE}python\ndef add(a, b):\n    return (a +"
    server = fake_openai({"add": [("length", cut)], "sub": [("ok", "I'd rather not write <code> for that.")]})
    out = tmp_path / "run"
    run_eval(EvalConfig(model="fake", backend="openai", base_url=server.url, benchmark=bench, mode="instruct",
                        out=str(out), max_retries=0), log=lambda s: None)
    kinds = {x["task_id"]: x["kind"] for x in _results(out)}
    assert kinds == {"t/add": "truncated", "t/sub": "no_code"}
    html = (out / "report.html").read_text()
    assert "I&#x27;d rather not write &lt;code&gt; for that." in html  # the raw output, escaped
    assert "<code> for that" not in html

    server = fake_openai({"add": [("garbage", "not json")], "sub": [("length", "def sub(a, b):\n    return a - b\n")]})
    out = tmp_path / "run2"
    # By default a failed request stops the run unscored (tests/evaluate/test_eval_run.py); scored on request:
    run_eval(EvalConfig(model="fake", backend="openai", base_url=server.url, benchmark=bench, mode="instruct",
                        out=str(out), max_retries=0, allow_generation_errors=True), log=lambda s: None)
    res = {x["task_id"]: x for x in _results(out)}
    # a failed request is the harness's, not the model's; an answer that passes is passed however it ended
    assert res["t/add"]["kind"] == "generation_error"
    assert res["t/sub"]["kind"] == "passed" and res["t/sub"]["finish_reason"] == "length"
