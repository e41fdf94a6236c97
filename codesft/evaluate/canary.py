"""The canary: before a command trusts the sandbox's verdicts, the sandbox must judge known programs right.

A harness that cannot import what benchmarks need (numpy for HumanEval+'s comparisons), or that cannot
start the interpreter it runs, fails every program -- and a score of 0.0 would silently blame the model.
So every command that scores or filters by sandbox verdicts (`eval run`, `eval score`, curate's verify
stage, `faults`) first calls `check_sandbox` with its own limits and back-end:

- benchmark reference solutions must pass: HumanEval+ HumanEval/2, both suites (the differential harness
  imports numpy and compares its float outputs with `np.allclose`), and MBPP's Mbpp/11 (independent asserts);
- a known-wrong program must fail: HumanEval/2 off by 1e-3, which only a working tolerance check rejects.

Anything else raises `HarnessFault`; the CLIs turn it into a non-zero exit and write nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from codesft.sandbox.pool import Backend, Isolation, SandboxPool, SandboxUnavailable, probe
from codesft.sandbox.types import Limits, Program

REFERENCE_PROBLEMS = (("humaneval+", "HumanEval/2"), ("mbpp", "Mbpp/11"))
WRONG_PROBLEM = ("humaneval+", "HumanEval/2")
# Off by 1e-3: a float answer that is close but not within evalplus's tolerance (atol 1e-6).
WRONG_BODY = "    return number - int(number) + 0.001\n"
_MAX_WORKERS = 2
_passed: set[tuple[str, Limits]] = set()  # (backend, limits) that passed in this process


class HarnessFault(RuntimeError):
    """The sandbox misjudged a canary program: its verdicts here would be the harness's fault, not the
    programs'. Raised before anything is run or written."""


@dataclass(frozen=True)
class Case:
    label: str
    program: Program
    limits: Limits
    must_pass: bool


def _problem(benchmark: str, task_id: str):
    from codesft.evaluate.problems import load_benchmark

    return next(p for p in load_benchmark(benchmark).problems if p.task_id == task_id)


def canary_cases(limits: Limits) -> list[Case]:
    """The canary programs, built exactly as the evaluator builds a sample's programs (one per suite,
    each with the suite's own limits where they exceed the caller's)."""
    from codesft.evaluate.execute import Job, programs_for

    cases = []
    for benchmark, task_id in REFERENCE_PROBLEMS:
        problem = _problem(benchmark, task_id)
        job = Job(key=f"canary-reference:{benchmark}:{task_id}", problem=problem, code=problem.reference or "")
        cases += [Case(f"reference solution of {benchmark} {task_id} (suite {prog.id.rpartition('::')[2]})",
                       prog, lim, True) for prog, lim in programs_for(job, limits)]
    benchmark, task_id = WRONG_PROBLEM
    problem = _problem(benchmark, task_id)
    job = Job(key=f"canary-wrong:{benchmark}:{task_id}", problem=problem, code=problem.prompt + WRONG_BODY)
    prog, lim = programs_for(job, limits)[0]
    cases.append(Case(f"known-wrong program for {benchmark} {task_id} (suite {prog.id.rpartition('::')[2]})",
                      prog, lim, False))
    return cases


def _run(cases: list[Case], backend: str, workers: int) -> dict[str, object]:
    results: dict[str, object] = {}
    by_limits: dict[Limits, list[Case]] = {}
    for case in cases:
        by_limits.setdefault(case.limits, []).append(case)
    for limits, group in by_limits.items():
        pool = SandboxPool(limits, workers, backend)  # type: ignore[arg-type]
        for result in pool.imap([c.program for c in group]):
            results[result.id] = result
    return results


def _judge(case: Case, result) -> str | None:
    """Why this canary came out wrong, or None."""
    if result is None:
        return f"the {case.label} got no result"
    if case.must_pass and result.status != "passed":
        detail = (result.reason or "").strip() or result.stderr.strip()[-300:]
        return f"the {case.label} did not pass: {result.status}: {detail}"
    if not case.must_pass and result.status != "failed":
        return f"the {case.label} came out '{result.status}' instead of 'failed': {result.reason or 'no reason given'}"
    return None


def check_sandbox(limits: Limits | None = None, backend: Backend = "auto", workers: int | None = None) -> Isolation:
    """Run the canary in the sandbox the caller is about to use (same back-end and limits); raise
    HarnessFault when it misjudges. Runs once per process for a given back-end and limits."""
    limits = limits or Limits()
    try:
        isolation = probe(backend, limits)
    except SandboxUnavailable as exc:
        raise HarnessFault(f"sandbox harness fault: the sandbox cannot start: {exc}") from None
    key = (isolation.backend, limits)
    if key in _passed:
        return isolation
    cases = canary_cases(limits)
    try:
        results = _run(cases, isolation.backend, min(_MAX_WORKERS, workers or os.cpu_count() or 1))
    except SandboxUnavailable as exc:
        raise HarnessFault(f"sandbox harness fault: the sandbox cannot start: {exc}") from None
    faults = [why for case in cases if (why := _judge(case, results.get(case.program.id))) is not None]
    if faults:
        raise HarnessFault("sandbox harness fault (not the programs' fault): " + "; ".join(faults)
                           + f". Sandbox: {isolation.backend}. Nothing was run or written; "
                           "`codesft exec --explain` shows what programs can import inside the sandbox.")
    _passed.add(key)
    return isolation
