"""Fail closed: every command that scores or filters by sandbox verdicts runs the canary first, and a sandbox
that misjudges it stops the command (exit 1, a message naming the harness fault, nothing written).

The broken sandbox is real: numpy's site-packages is masked inside it through the pool's test-only
`_HIDE_FOR_TESTS`, which can only take files away from programs (never make one pass)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy
import pytest
from typer.testing import CliRunner

from codesft.cli import app
from codesft.evaluate import canary
from codesft.sandbox import pool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "assets"


@pytest.fixture()
def fresh_canary(monkeypatch):
    monkeypatch.setattr(canary, "_passed", set())  # the canary runs once per process: forget earlier passes


@pytest.fixture()
def broken_sandbox(monkeypatch, fresh_canary):
    monkeypatch.setattr(pool, "_HIDE_FOR_TESTS", (os.path.dirname(os.path.dirname(numpy.__file__)),))


def _bundle(tmp_path: Path) -> Path:
    from codesft.bundle import write_bundle
    from codesft.schema import Code, Message, Provenance, Sample, Source, Split

    solution = "def clip(n, lo, hi):\n    return max(lo, min(n, hi))\n"
    sample = Sample(sample_id="clip", source=Source(kind="eval_question", group_key="clip"),
                    messages=[Message(role="user", content="Clip n."),
                              Message(role="assistant", content=f"```python\n{solution}```")],
                    code=Code(solution=solution, tests="assert clip(5, 0, 3) == 3\n"),
                    provenance=Provenance(content_hash="clip", source_path="tests"),
                    split=Split(assignment="train", seed=0, group_key="clip"))
    return write_bundle([sample], [], tmp_path / "bundles", "demo", "1.0.0", {"seed": 0})


def _commands(tmp_path: Path, humaneval_plus_references) -> dict[str, tuple[list[str], Path]]:
    """command -> (argv, its output directory)."""
    out = tmp_path / "out"
    return {
        "eval score": (["eval", "score", "--benchmark", "humaneval+", "--samples",
                        str(humaneval_plus_references(tmp_path, ["HumanEval/2"])), "--out", str(out)], out),
        "eval run": (["eval", "run", "--model", "offline:qwen2.5-coder-0.5b-instruct", "--benchmark", "humaneval",
                      "--limit", "1", "--out", str(out)], out),
        "faults": (["faults", str(_bundle(tmp_path)), "--out", str(out)], out),
        "curate": (["curate", "--input", f"eval_questions:{EXAMPLES / 'eval_questions.jsonl'}", "--out", str(out),
                    "--decontam.enabled", "false"], out),
    }


@pytest.mark.parametrize("command", ["eval score", "eval run", "faults", "curate"])
def test_a_sandbox_without_numpy_stops_the_command(broken_sandbox, tmp_path, command, humaneval_plus_references):
    argv, out = _commands(tmp_path, humaneval_plus_references)[command]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, (result.output, result.exception)
    assert "sandbox harness fault" in result.output
    assert "No module named 'numpy'" in result.output and "reference solution of humaneval+ HumanEval/2" in result.output
    if command == "curate":  # its resumable work directory may exist; no bundle version does
        assert not list(out.rglob("manifest.json")) and not list(out.rglob("v1.0.0"))
    else:
        assert not out.exists()


def test_a_known_wrong_program_that_passes_stops_the_command(fresh_canary, monkeypatch, tmp_path,
                                                             humaneval_plus_references):
    # A verdict that accepts a wrong answer: here the "wrong" program is in fact correct, so it passes.
    monkeypatch.setattr(canary, "WRONG_BODY", "    return number - int(number)\n")
    argv, out = _commands(tmp_path, humaneval_plus_references)["eval score"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert "known-wrong program for humaneval+ HumanEval/2" in result.output and "'passed' instead of 'failed'" in result.output
    assert not out.exists()


def test_the_canary_passes_in_a_working_sandbox_and_runs_once(fresh_canary, monkeypatch):
    runs = []
    real = canary._run
    monkeypatch.setattr(canary, "_run", lambda *a, **k: runs.append(1) or real(*a, **k))
    canary.check_sandbox()
    canary.check_sandbox()
    assert len(runs) == 1


def test_explain_names_modules_the_sandbox_cannot_import(broken_sandbox):
    result = CliRunner().invoke(app, ["exec", "--explain"])
    assert result.exit_code == 0, result.output
    assert "NOT importable: numpy (ModuleNotFoundError" in result.output
