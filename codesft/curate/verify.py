"""verify: run each solution with its tests in the sandbox, in batches, through one `Verifier` per run.

Repair pairs: the fixed code must pass; the problematic code is run against the same tests and
should fail (recorded in `before_status`, with a warning when it passes; the gate's `before_passes`
policy then downgrades or rejects the record: it is no repair pair). Records without tests, or in a language the
sandbox does not run, stay `unverified` — that is not a failure (and gets no correctness credit: score.py's
`unverified_credit`, 0 by default, and the gate's `unverified` policy). A `cache` (dict-like, keyed by
the hash of what is executed) lets a restarted run skip programs that already ran.

Programs are built by `codesft.sandbox.programs.program_for`, the same function faults and eval use, in the
record's language: python, javascript (node) or sql (SQLite in memory). The first time a batch holds a
JavaScript or SQL program, that language's check (`codesft.sandbox.check_language`: known programs must come
out right) runs in the same pool; a sandbox that cannot judge the language (no node on the machine) stops
the run with HarnessFault instead of failing the records.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator, MutableMapping

from codesft.curate.config import VerifyConfig
from codesft.curate.gate import fork
from codesft.sandbox.languages import LanguageUnavailable, check_language, sandbox_language
from codesft.sandbox.programs import program_for
from codesft.sandbox.types import Program
from codesft.schema import Sample, Verification, content_hash

Cache = MutableMapping[str, dict]


def program_key(program: Program, cfg: VerifyConfig) -> str:
    """The cache key: what is executed and under which limits (not the program's id)."""
    parts = [program.code, program.test or "", program.entry_point or "", str(cfg.timeout_s), str(cfg.memory_mb)]
    if program.language != "python" or program.setup is not None:
        # Only then: a Python program's key stays what it was before other languages existed (a kept cache
        # still serves a restarted run).
        parts += [program.language, program.setup or ""]
    return content_hash(*parts)


def _needs_run(s: Sample) -> str | None:
    """None when the sample can run; else why it stays unverified."""
    if s.quality.decision == "rejected":
        return "already rejected"
    if s.code is None or not s.code.solution:
        return "no code"
    if not s.code.tests:
        return "no tests"
    if sandbox_language(s.code.language) is None:
        return f"no sandbox for {s.code.language}"
    return None


def _verdict(result: Any) -> Verification:
    status = result.status
    total = len(result.tests) if result.tests else 1
    passed = sum(1 for t in result.tests if t.passed) if result.tests else int(status == "passed")
    # runtime_s stays 0 in records: wall-clock time would break byte-identical bundles. Timing is
    # the sandbox's business (and the run's console output), not the data's.
    return Verification(status=status, passed=passed, total=total, runtime_s=0.0, reason=(result.reason or "")[:500])


def _plan(batch: list[Sample], cfg: VerifyConfig, cache: Cache) -> tuple[list[tuple[int, str, str]], dict[str, Program]]:
    """What to run: (index, "solution"|"before", key) per wanted verdict, and the programs not cached yet."""
    jobs: dict[str, Program] = {}
    wanted: list[tuple[int, str, str]] = []
    for i, s in enumerate(batch):
        if _needs_run(s) is not None:
            continue
        for role, code in (("solution", s.code.solution), ("before", s.code.before)):
            if not code:
                continue
            program = program_for(s, code)
            key = program_key(program, cfg)
            wanted.append((i, role, key))
            if key not in cache:
                jobs[key] = program.model_copy(update={"id": key})
    return wanted, jobs


def _apply(batch: list[Sample], verdicts: dict[tuple[int, str], Verification]) -> list[Sample]:
    out = []
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


def verify_batch(batch: list[Sample], cfg: VerifyConfig, cache: Cache | None = None, pool: Any = None) -> list[Sample]:
    """Verdicts for one batch (copies, in order). `pool`: the run's `SandboxPool`; without one, this batch
    starts and stops its own workers (fine for one record, wasteful per batch of a run: use a `Verifier`)."""
    from codesft.sandbox import run_many

    cache = cache if cache is not None else {}
    wanted, jobs = _plan(batch, cfg, cache)
    if jobs:
        programs = [jobs[k] for k in sorted(jobs)]
        _check_languages({p.language for p in programs}, cfg, pool)
        results = (pool.imap(programs) if pool is not None
                   else run_many(programs, limits=cfg.sandbox_settings().limits(), workers=cfg.workers))
        for result in results:
            cache[result.id] = _verdict(result).model_dump(mode="json")
    verdicts = {(i, role): Verification(**cache[key]) for i, role, key in wanted}
    return _apply(batch, verdicts)


def _check_languages(languages: set[str], cfg: VerifyConfig, pool: Any) -> None:
    """Python's canary ran when the Verifier started; JavaScript and SQL are checked here, once, when the first
    program in them is about to run. Raises HarnessFault."""
    from codesft.evaluate.canary import HarnessFault
    from codesft.sandbox import SandboxPool

    for language in sorted(languages - {"python"}):
        try:
            if pool is not None:
                check_language(pool, language)  # type: ignore[arg-type]
            else:
                with SandboxPool(cfg.sandbox_settings().limits(), cfg.workers) as own:
                    check_language(own, language)  # type: ignore[arg-type]
        except LanguageUnavailable as exc:
            raise HarnessFault(f"sandbox harness fault (not the records' fault): {exc}. Nothing was written.") from None


def mark_unverified(s: Sample, reason: str = "verification disabled") -> Sample:
    """What the verify stage does when it is disabled."""
    s = fork(s)
    if s.quality.decision != "rejected":
        s.quality.verification = Verification(status="unverified", reason=reason)
    return s


class Verifier:
    """The verify stage for one run: its limits, one sandbox pool (warm workers reused by every batch) and
    the verdict cache. Use it as a context manager: entering runs the sandbox canary (a sandbox that fails
    correct programs would reject good records as `failed`; it raises HarnessFault before any record is
    run), leaving stops the workers. When `cfg.enabled` is false nothing is started and every record is
    marked `unverified`."""

    def __init__(self, cfg: VerifyConfig, cache: Cache | None = None) -> None:
        self.cfg = cfg
        self.cache: Cache = cache if cache is not None else {}
        self.pool: Any = None

    def __enter__(self) -> "Verifier":
        if self.cfg.enabled:
            from codesft.sandbox import SandboxPool
            from codesft.evaluate.canary import check_sandbox

            limits = self.cfg.sandbox_settings().limits()
            check_sandbox(limits, workers=self.cfg.workers)
            self.pool = SandboxPool(limits, self.cfg.workers).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def verify_batch(self, batch: list[Sample]) -> list[Sample]:
        if not self.cfg.enabled:
            return [mark_unverified(s) for s in batch]
        if self.pool is None:
            raise RuntimeError("Verifier used outside its `with` block (or after close())")
        return verify_batch(batch, self.cfg, self.cache, self.pool)


def verify(samples: Iterable[Sample], cfg: VerifyConfig, cache: Cache | None = None,
           on_batch: Callable[[Cache], None] | None = None) -> Iterator[Sample]:
    """Batches of `cfg.batch_size` through one `Verifier`; order of records is preserved. `on_batch(cache)`
    is called after each batch (the pipeline persists the cache there). When enabled, the canary runs here,
    at the call, before any record is read (HarnessFault)."""
    verifier = Verifier(cfg, cache).__enter__()
    return _verify_batches(samples, verifier, on_batch)


def _verify_batches(samples: Iterable[Sample], verifier: Verifier,
                    on_batch: Callable[[Cache], None] | None) -> Iterator[Sample]:
    with verifier:
        it = iter(samples)
        while batch := list(itertools.islice(it, verifier.cfg.batch_size)):
            yield from verifier.verify_batch(batch)
            if on_batch is not None and verifier.cfg.enabled:
                on_batch(verifier.cache)
