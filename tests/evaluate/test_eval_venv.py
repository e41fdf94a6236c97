"""`eval score` from a venv under the system temp directory: HumanEval+ reference solutions score 1.0 (their
harness needs numpy inside the sandbox), and a sandbox that cannot import numpy stops the command instead
of scoring 0.0."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

# Float outputs (numpy's tolerance check), lists, strings, and HumanEval/32's root oracle.
TASKS = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/32"]
# Masks numpy's site-packages inside the sandbox only (the pool's test-only fault injection), then runs the CLI.
BROKEN = """import os, sys, numpy
from codesft.sandbox import pool
pool._HIDE_FOR_TESTS = (os.path.dirname(os.path.dirname(numpy.__file__)),)
from codesft.cli import app
sys.argv = ["codesft", *sys.argv[1:]]
app()
"""


def _score(samples: Path, python: Path, tmp_path: Path, *prefix: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "scored"
    proc = subprocess.run([str(python), *prefix, "eval", "score", "--benchmark", "humaneval+", "--samples",
                           str(samples), "--out", str(out), "--no-text-metrics"],
                          capture_output=True, text=True, timeout=600, cwd="/")
    return proc, out


def test_humaneval_plus_references_score_one_from_a_venv_under_tmp(tmp_venv, tmp_path, humaneval_plus_references):
    proc, out = _score(humaneval_plus_references(tmp_path, TASKS), tmp_venv, tmp_path, "-m", "codesft.cli")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == len(TASKS)
    assert summary["metrics"]["by_suite"]["base"]["pass@1"]["value"] == 1.0
    assert summary["metrics"]["by_suite"]["base+plus"]["pass@1"]["value"] == 1.0


def test_a_sandbox_without_numpy_stops_scoring_from_a_venv(tmp_venv, tmp_path, humaneval_plus_references):
    proc, out = _score(humaneval_plus_references(tmp_path, TASKS), tmp_venv, tmp_path, "-c", BROKEN)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "sandbox harness fault" in proc.stderr and "No module named 'numpy'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # no score, no results
