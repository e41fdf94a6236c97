"""verify: run each solution with its tests in the sandbox, in batches through `run_many`.

Repair pairs: the fixed code must pass; the problematic code is run against the same tests and
should fail (recorded in `before_status`, with a warning when it passes; the gate's `before_passes`
policy then downgrades or rejects the record: it is no repair pair). Records without tests, or in a language the
sandbox does not run, stay `unverified` — that is not a failure. A `cache` (dict-like, keyed by
the hash of what is executed) lets a restarted run skip programs that already ran.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, MutableMapping

from codesft.curate.config import VerifyConfig
from codesft.curate.gate import fork
from codesft.schema import Sample, Verification, content_hash


def _program_fields(code: str, sample: Sample) -> dict[str, Any]:
    c = sample.code
    body = f"{c.setup}\n{code}" if c.setup else code
    # HumanEval-style tests define check(candidate); plain asserts must not get a check() call.
    entry = c.entry_point if c.entry_point and "def check(" in (c.tests or "") else None
    return {"code": body, "test": c.tests, "entry_point": entry}


def program_key(fields: dict[str, Any], cfg: VerifyConfig) -> str:
    return content_hash(fields["code"], fields["test"] or "", fields["entry_point"] or "",
                        str(cfg.timeout_s), str(cfg.memory_mb))


def _needs_run(s: Sample) -> str | None:
    """None when the sample can run; else why it stays unverified."""
    if s.quality.decision == "rejected":
        return "already rejected"
    if s.code is None or not s.code.solution:
        return "no code"
    if not s.code.tests:
        return "no tests"
    if s.code.language != "python":
        return f"no sandbox for {s.code.language}"
    return None


def _verdict(result: Any) -> Verification:
    status = result.status
    total = len(result.tests) if result.tests else 1
    passed = sum(1 for t in result.tests if t.passed) if result.tests else int(status == "passed")
    # runtime_s stays 0 in records: wall-clock time would break byte-identical bundles. Timing is
    # the sandbox's business (and the run's console output), not the data's.
    return Verification(status=status, passed=passed, total=total, runtime_s=0.0, reason=(result.reason or "")[:500])


def verify_batch(batch: list[Sample], cfg: VerifyConfig, cache: MutableMapping[str, dict] | None = None) -> list[Sample]:
    from codesft.sandbox import Limits, Program, run_many

    cache = cache if cache is not None else {}
    jobs: dict[str, dict[str, Any]] = {}  # key -> program fields
    wanted: list[tuple[int, str, str]] = []  # (index in batch, "solution"|"before", key)
    for i, s in enumerate(batch):
        if _needs_run(s) is not None:
            continue
        for role, code in (("solution", s.code.solution), ("before", s.code.before)):
            if not code:
                continue
            fields = _program_fields(code, s)
            key = program_key(fields, cfg)
            wanted.append((i, role, key))
            if key not in cache:
                jobs[key] = fields
    if jobs:
        limits = Limits(timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb)
        programs = [Program(id=k, **f) for k, f in sorted(jobs.items())]
        for result in run_many(programs, limits=limits, workers=cfg.workers):
            cache[result.id] = _verdict(result).model_dump(mode="json")
    out = []
    verdicts: dict[tuple[int, str], Verification] = {(i, role): Verification(**cache[key]) for i, role, key in wanted}
    for i, s in enumerate(batch):
        s = s.model_copy(deep=True)
        s.source.stage = "verify"
        why = _needs_run(s)
        if why is not None:
            if s.quality.decision != "rejected":
                s.quality.verification = Verification(status="unverified", reason=why)
            out.append(s)
            continue
        v = verdicts[(i, "solution")]
        before = verdicts.get((i, "before"))
        if before is not None:
            v = v.model_copy(update={"before_status": before.status})
            if before.status == "passed":
                s.quality.warnings.append("verify: the problematic code also passes the tests")
        s.quality.verification = v
        out.append(s)
    return out


def mark_unverified(s: Sample, reason: str = "verification disabled") -> Sample:
    """What the verify stage does when it is disabled."""
    s = fork(s)
    if s.quality.decision != "rejected":
        s.quality.verification = Verification(status="unverified", reason=reason)
    return s


def verify(samples: Iterable[Sample], cfg: VerifyConfig, cache: MutableMapping[str, dict] | None = None,
           on_batch=None) -> Iterator[Sample]:
    """Batches of `cfg.batch_size` go to the sandbox together; order of records is preserved.
    `on_batch(cache)` is called after each batch (the pipeline persists the cache there).
    When enabled, the sandbox canary runs here, at the call, before any record is read: a sandbox that
    fails correct programs would reject good records as `failed`. It raises HarnessFault."""
    if cfg.enabled:
        from codesft.sandbox import Limits
        from codesft.sandbox.canary import check_sandbox

        check_sandbox(Limits(timeout_s=cfg.timeout_s, memory_mb=cfg.memory_mb), workers=cfg.workers)
    return _verify_batches(samples, cfg, cache, on_batch)


def _verify_batches(samples: Iterable[Sample], cfg: VerifyConfig, cache: MutableMapping[str, dict] | None,
                    on_batch) -> Iterator[Sample]:
    it = iter(samples)
    while batch := list(itertools.islice(it, cfg.batch_size)):
        if not cfg.enabled:
            for s in batch:
                yield mark_unverified(s)
            continue
        yield from verify_batch(batch, cfg, cache)
        if on_batch is not None:
            on_batch(cache)
