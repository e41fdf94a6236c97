"""One way to run a record (`program_for`), one set of sandbox settings, one sandbox pool per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from codesft.schema import Code, Message, Provenance, Sample, Source, Split

# `setup` the solution needs at definition time (the module its decorator comes from): it must run before
# the code, as curate's verify runs it, or the record passes verify and fails eval. (An annotation would not
# show it: programs compile with postponed annotations.)
SETUP = "import functools\nimport math\n"
SOLUTION = "@functools.lru_cache(maxsize=None)\ndef product(xs):\n    return math.prod(xs)\n"
WRONG = "@functools.lru_cache(maxsize=None)\ndef product(xs):\n    return sum(xs)\n"
ASSERTS = "assert product((2, 3, 4)) == 24\nassert product(()) == 1\n"
CHECK = "def check(candidate):\n    assert candidate((5, 5)) == 25\n"


def _record(sid: str, solution: str, tests: str, entry_point: str | None = None) -> Sample:
    return Sample(sample_id=sid, source=Source(kind="eval_question", group_key=sid),
                  messages=[Message(role="user", content="Multiply the numbers."),
                            Message(role="assistant", content=f"```python\n{solution}```")],
                  code=Code(solution=solution, tests=tests, setup=SETUP, entry_point=entry_point),
                  provenance=Provenance(content_hash=sid, source_path="tests/sandbox"),
                  split=Split(assignment="test", seed=0, group_key=sid))


def _eval_statuses(records: list[Sample], where: Path) -> dict[str, str]:
    """Each record's own solution scored by `eval` on the bundle's test split (hand-made split file)."""
    from codesft.evaluate.execute import Job, execute_jobs
    from codesft.evaluate.problems import load_benchmark
    from codesft.sandbox import Limits

    where.mkdir()
    (where / "samples.jsonl").write_text("".join(s.to_json() + "\n" for s in records), encoding="utf-8")
    problems = load_benchmark(f"bundle:{where}").problems
    jobs = [Job(key=p.task_id, problem=p, code=p.reference or "") for p in problems]
    return {k: v["status"] for k, v in execute_jobs(jobs, Limits(timeout_s=5.0), workers=1).items()}


def test_a_record_with_setup_passes_verify_and_eval_alike(tmp_path):
    from codesft.curate.config import VerifyConfig
    from codesft.curate.verify import verify

    records = [_record("asserts", SOLUTION, ASSERTS), _record("check", SOLUTION, CHECK, "product"),
               _record("wrong", WRONG, ASSERTS)]
    verified = {s.sample_id: s.quality.verification.status for s in verify(records, VerifyConfig(timeout_s=5.0))}
    evaluated = _eval_statuses(records, tmp_path / "split")
    assert verified == {"asserts": "passed", "check": "passed", "wrong": "failed"}
    assert evaluated == verified


def test_program_for_places_setup_first_and_calls_check_only_when_defined():
    from codesft.sandbox.programs import program_for

    with_check = program_for(_record("c", SOLUTION, CHECK, "product"), SOLUTION)
    assert with_check.code == SETUP + "\n" + SOLUTION and with_check.test == CHECK
    assert with_check.entry_point == "product" and with_check.id == "c"
    plain = program_for(_record("a", SOLUTION, ASSERTS, "product"), WRONG, id="x")
    assert plain.entry_point is None and plain.id == "x" and plain.code.endswith(WRONG)


def test_every_command_has_the_same_sandbox_settings():
    from codesft.config import load_config, parse_cli_overrides
    from codesft.curate.config import CurateConfig, VerifyConfig
    from codesft.evaluate.config import EvalConfig
    from codesft.faults.config import FaultsConfig
    from codesft.sandbox.types import SandboxSettings

    shared = SandboxSettings()
    assert (shared.timeout_s, shared.memory_mb, shared.workers) == (10.0, 2048, None)
    for cls in (VerifyConfig, FaultsConfig, EvalConfig):
        assert cls().sandbox_settings() == shared, cls.__name__  # faults' memory default was 1024
    # every flag keeps its spelling
    curate = load_config(CurateConfig, None, parse_cli_overrides(["--verify.timeout-s", "3", "--verify.memory-mb",
                                                                  "512", "--verify.workers", "2"], CurateConfig))
    assert curate.verify.sandbox_settings() == SandboxSettings(timeout_s=3, memory_mb=512, workers=2)
    ev = load_config(EvalConfig, None, parse_cli_overrides(["--timeout-s", "3", "--memory-mb", "512"], EvalConfig))
    assert ev.sandbox_settings().limits().timeout_s == 3 and ev.sandbox_settings().limits().memory_mb == 512
    with pytest.raises(ValidationError):
        FaultsConfig(memory_mb=32)  # the shared bounds apply to every command


def _count_worker_starts(monkeypatch) -> list[int]:
    from codesft.sandbox import pool

    starts: list[int] = []
    real = pool._Worker.__init__

    def counting(self, *args, **kwargs):
        starts.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(pool._Worker, "__init__", counting)
    return starts


def test_curate_verify_keeps_one_pool_for_the_run(monkeypatch):
    from codesft.curate.config import VerifyConfig
    from codesft.curate.verify import verify
    from codesft.evaluate.canary import check_sandbox
    from codesft.sandbox import Limits

    check_sandbox(Limits(timeout_s=5.0))  # the canary's own workers are not the run's
    starts = _count_worker_starts(monkeypatch)
    records = [_record(f"r{i}", SOLUTION, ASSERTS) for i in range(4)]
    out = list(verify(records, VerifyConfig(timeout_s=5.0, batch_size=1, workers=1)))
    assert [s.quality.verification.status for s in out] == ["passed"] * 4
    assert len(starts) == 1  # four batches, one warm worker (a pool per batch started four)


def test_a_warm_pool_reuses_workers_until_closed():
    from codesft.sandbox import Limits, Program, SandboxPool

    progs = [Program(id=str(i), code="x = 1", test="assert x == 1") for i in range(3)]
    with SandboxPool(Limits(timeout_s=5.0), workers=1) as pool:
        assert [r.status for r in pool.imap(progs)] == ["passed"] * 3
        assert [r.status for r in pool.imap(progs)] == ["passed"] * 3
        assert pool.workers_started == 1  # one worker served both calls
        other = list(pool.imap(progs[:1], limits=Limits(timeout_s=6.0)))
        assert other[0].status == "passed" and pool.workers_started == 2  # other limits, another worker
        warm = [w.proc for w in pool._idle.values()]
    assert warm and all(proc.poll() is not None for proc in warm)  # leaving the block stops them
    bare = SandboxPool(Limits(timeout_s=5.0), workers=1)
    assert [r.status for r in bare.imap(progs)] == ["passed"] * 3
    assert not bare._idle  # a bare pool keeps nothing running after its imap
