"""The parallel pipeline (JSON transport, per-record verdicts computed in workers, Arrow tables built in
workers) writes the same bytes as the plain stage functions chained in order, for any worker count."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from codesft.curate import balance as bal
from codesft.curate import dedup
from codesft.curate.config import CurateConfig
from codesft.curate.decontam import BENCH_DIR, decontaminate
from codesft.curate.gate import gate_one
from codesft.curate.normalize import normalize_one
from codesft.curate.checkpoint import State
from codesft.curate.pipeline import run_passes
from codesft.curate.redact import active_rules, redact_one
from codesft.curate.score import score_batch
from codesft.curate.split import with_split
from codesft.curate.synthetic import make_sample, synthetic_stream
from codesft.curate.verify import mark_unverified
from codesft.executors.local import LocalExecutor
from codesft.bundle import write_bundle

N = 400


def _records():
    yield from synthetic_stream(N)
    risky = make_sample(10_001)  # a vetoed solution, a secret, a benchmark copy: every kind of rejection
    risky.code.solution = "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    risky.messages[1].content = f"```python\n{risky.code.solution}```"
    yield risky
    secret = make_sample(10_002)
    secret.messages[0].content += " key AKIAIOSFODNN7EXAMPLE -----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"
    yield secret
    with gzip.open(BENCH_DIR / "HumanEval.jsonl.gz", "rt") as fh:
        he = json.loads(fh.readline())
    copy = make_sample(10_003)
    copy.code.solution = he["prompt"] + he["canonical_solution"]
    copy.messages[1].content = f"```python\n{copy.code.solution}```"
    yield copy


def _cfg(out: Path) -> CurateConfig:
    return CurateConfig(out=str(out), name="p", verify={"enabled": False},
                        balance={"targets": {"conversation": 0.15}}).resolved()


def _pipeline(out: Path, workers: int) -> Path:
    cfg = _cfg(out)
    work = out / "work"
    work.mkdir(parents=True)
    ex = LocalExecutor(workers=workers, batch_size=64)
    quiet = lambda msg: None  # noqa: E731
    return run_passes(cfg, work, State(work, "fingerprint"), quiet, ex, records=_records())


def _reference(out: Path) -> Path:
    cfg = _cfg(out)
    rules = active_rules(cfg.redact)
    recs = [mark_unverified(redact_one(normalize_one(s, cfg.normalize), rules)) for s in _records()]
    recs = [gate_one(s, cfg.gate, cfg.score) for s in score_batch(recs, cfg.score)]
    plan = dedup.build_plan(recs, cfg.dedup)
    recs = [with_split(s, cfg.split, cfg.seed) for s in decontaminate(dedup.apply_plan(recs, plan), cfg.decontam)]
    bplan = bal.plan_balance(recs, cfg.balance)
    stats = {"inputs_by_spec": {"records": len(recs)}, "read_errors": 0,
             "dedup": {"clusters": plan.clusters, "records_in_clusters": len(plan.members),
                       "near_candidates": plan.band_hits, "near_confirmed": plan.confirmed},
             "balance": bplan.to_dict()}
    (out / "work").mkdir(parents=True)
    (out / "work" / "read_errors.jsonl").write_text("")
    return write_bundle(bal.apply_balance(recs, bplan, cfg.balance, cfg.seed), [], cfg.out, cfg.name, cfg.version,
                        cfg.pipeline_dict(), formats=cfg.formats, stats=stats)


def _files(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


def test_parallel_pipeline_equals_stage_functions_for_any_worker_count(tmp_path: Path):
    one = _files(_pipeline(tmp_path / "w1", 1))
    two = _files(_pipeline(tmp_path / "w2", 2))
    ref = _files(_reference(tmp_path / "ref"))
    assert one == two
    assert one.keys() == ref.keys()
    for name in ref:
        assert one[name] == ref[name], name
    rejected = one["rejected.jsonl"].decode()
    for reason in ("veto", "redaction_blocked", "exact_duplicate", "near_duplicate", "balance_downsampled",
                   "contaminated"):
        assert f'"reason":"{reason}' in rejected, reason
    assert "AKIAIOSFODNN7EXAMPLE" not in rejected
