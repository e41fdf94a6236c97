"""`eval score` from a venv under the system temp directory: HumanEval+ reference solutions score 1.0 (their
harness needs numpy inside the sandbox), and a sandbox that cannot import numpy stops the command instead
of scoring 0.0."""

from __future__ import annotations

import gzip
import json
import subprocess
from importlib import resources
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


def _samples(tmp_path: Path) -> Path:
    path = Path(str(resources.files("codesft") / "data" / "benchmarks" / "HumanEvalPlus-v0.1.10.jsonl.gz"))
    rows = {r["task_id"]: r for r in map(json.loads, gzip.open(path, "rt"))}
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": rows[t]["canonical_solution"]}) + "\n"
                               for t in TASKS))
    return samples


def _score(python: Path, tmp_path: Path, *prefix: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "scored"
    proc = subprocess.run([str(python), *prefix, "eval", "score", "--benchmark", "humaneval+", "--samples",
                           str(_samples(tmp_path)), "--out", str(out), "--no-text-metrics"],
                          capture_output=True, text=True, timeout=600, cwd="/")
    return proc, out


def test_humaneval_plus_references_score_one_from_a_venv_under_tmp(tmp_venv, tmp_path):
    proc, out = _score(tmp_venv, tmp_path, "-m", "codesft.cli")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == len(TASKS)
    assert summary["metrics"]["by_suite"]["base"]["pass@1"]["value"] == 1.0
    assert summary["metrics"]["by_suite"]["base+plus"]["pass@1"]["value"] == 1.0


def test_a_sandbox_without_numpy_stops_scoring_from_a_venv(tmp_venv, tmp_path):
    proc, out = _score(tmp_venv, tmp_path, "-c", BROKEN)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "sandbox harness fault" in proc.stderr and "No module named 'numpy'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # no score, no results
