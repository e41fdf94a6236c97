"""Run candidate programs against a problem's suites in the sandbox and fold the results into one verdict.

Each (sample, suite) is one sandbox Program; programs are grouped by their limits (a benchmark may need more
time or memory than the run's default, e.g. HumanEval+) and every group runs on the run's one `SandboxPool`.
A problem's `setup` (a curated record's) goes before the candidate code, through the same
`codesft.sandbox.programs.with_setup` that curate's verify uses. A sample passes when every suite passes. A sample with no code (failed request, empty answer) is not run: it is a
failed sample with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from codesft.evaluate.problems_types import Problem

SEP = "::"


@dataclass
class Job:
    key: str              # unique sample key, e.g. "HumanEval/0#3"
    problem: Problem
    code: str
    no_code_reason: str = ""


def _limits_for(suite, base: Any) -> Any:
    changes = {}
    if suite.timeout_s and suite.timeout_s > base.timeout_s:
        changes["timeout_s"] = suite.timeout_s
    if suite.memory_mb and suite.memory_mb > base.memory_mb:
        changes["memory_mb"] = suite.memory_mb
    return base.model_copy(update=changes) if changes else base


def programs_for(job: Job, base_limits: Any) -> list[tuple[Any, Any]]:
    from codesft.sandbox import Program
    from codesft.sandbox.programs import with_setup

    out = []
    code = with_setup(job.problem.setup, job.code)
    for suite in job.problem.suites:
        prog = Program(id=f"{job.key}{SEP}{suite.name}", code=code, test=suite.test, tests=suite.tests,
                       entry_point=job.problem.entry_point if suite.call_check else None)
        out.append((prog, _limits_for(suite, base_limits)))
    return out


def public_programs(job: Job, base_limits: Any) -> list[Any]:
    """The prompt's own examples as a separate program (ranking signal for n@k; never part of the verdict)."""
    from codesft.sandbox import Program
    from codesft.sandbox.programs import with_setup

    if not job.problem.public_tests or not job.code.strip():
        return []
    return [Program(id=f"{job.key}{SEP}__public__", code=with_setup(job.problem.setup, job.code),
                    tests=list(job.problem.public_tests))]


def fold(job: Job, results: dict[str, Any]) -> dict[str, Any]:
    """Suite results -> the sample's verdict: status, reason, per-suite status and per-test outcomes."""
    suites: dict[str, Any] = {}
    status, reason, runtime = "passed", "", 0.0
    tests_flat: list[bool] = []
    for suite in job.problem.suites:
        r = results[f"{job.key}{SEP}{suite.name}"]
        per_test = [t.passed for t in (r.tests or [])]
        if suite.tests and not per_test:
            per_test = [False] * len(suite.tests)  # did not get as far as the tests (syntax error, crash)
        elif not suite.tests:
            per_test = [r.status == "passed"]
        failed_tests = [t.index for t in (r.tests or []) if not t.passed]
        first_err = next((t.error for t in (r.tests or []) if not t.passed), "")
        suites[suite.name] = {"status": r.status, "reason": r.reason or first_err, "tests": per_test,
                              "failed_tests": failed_tests[:20], "first_error": first_err,
                              "runtime_s": round(r.runtime_s, 4)}
        tests_flat += per_test
        runtime += r.runtime_s
        if r.status != "passed" and status == "passed":
            status, reason = r.status, f"{suite.name}: {r.reason or first_err}".strip()
    return {"status": status, "reason": reason, "suites": suites, "tests": tests_flat,
            "exec_time_s": round(runtime, 4)}


def no_code_verdict(job: Job) -> dict[str, Any]:
    suites = {s.name: {"status": "error", "reason": job.no_code_reason,
                       "tests": [False] * (len(s.tests) if s.tests else 1), "failed_tests": [], "first_error": "",
                       "runtime_s": 0.0} for s in job.problem.suites}
    tests = [t for s in suites.values() for t in s["tests"]]
    return {"status": "error", "reason": job.no_code_reason, "suites": suites, "tests": tests, "exec_time_s": 0.0}


def _plan(jobs: list[Job], base_limits: Any, public: bool,
          on_done: Callable[[Job, dict[str, Any]], None] | None) -> tuple[dict[str, dict], dict[str, int], dict[Any, list]]:
    """Verdicts of the jobs with no code, programs left to run per job, and the programs grouped by limits."""
    verdicts: dict[str, dict[str, Any]] = {}
    pending: dict[str, int] = {}
    groups: dict[Any, list[Any]] = defaultdict(list)
    for job in jobs:
        if not job.code.strip():
            verdicts[job.key] = no_code_verdict(job)
            if on_done:
                on_done(job, verdicts[job.key])
            continue
        progs = programs_for(job, base_limits)
        pub = public_programs(job, base_limits) if public else []
        pending[job.key] = len(progs) + len(pub)
        for prog, limits in progs:
            groups[limits].append(prog)
        for prog in pub:
            groups[base_limits].append(prog)
    return verdicts, pending, groups


def execute_jobs(jobs: Iterable[Job], base_limits: Any, workers: int | None = None, public: bool = False,
                 on_done: Callable[[Job, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run every job; call on_done(job, verdict) as each sample completes (for streaming results to disk)."""
    from codesft.sandbox import SandboxPool

    jobs = list(jobs)
    by_key = {j.key: j for j in jobs}
    verdicts, pending, groups = _plan(jobs, base_limits, public, on_done)
    collected: dict[str, dict[str, Any]] = defaultdict(dict)
    if not groups:
        return verdicts
    with SandboxPool(base_limits, workers) as pool:  # one pool for the run; each limit group reuses it
        for limits, progs in groups.items():
            for res in pool.imap(progs, limits=limits):
                key, _, suite = res.id.rpartition(SEP)
                collected[key][res.id] = res
                pending[key] -= 1
                if pending[key] == 0:
                    job = by_key[key]
                    v = fold(job, collected[key])
                    pub_res = collected[key].get(f"{key}{SEP}__public__")
                    if pub_res is not None:
                        v["public_pass"] = pub_res.status == "passed"
                    verdicts[key] = v
                    del collected[key]
                    if on_done:
                        on_done(job, v)
    return verdicts
