"""Throughput and memory of the non-executing curate stages on synthetic records.

Stages: normalize, redact, score (bandit included), gate, dedup (two passes, MinHash LSH),
decontaminate, split, balance, and the bundle writer's compatibility check. Verification is
excluded (it is the sandbox's cost, measured there). Records stream from a generator through
JSONL checkpoints exactly as in `codesft curate`, so memory is what the pipeline holds, not the
data. Peak RSS is sampled per phase (ru_maxrss of this process and its workers).

    python benchmarks/curate_throughput.py --records 100000 --workers 2
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesft.curate import balance as bal  # noqa: E402
from codesft.curate import dedup  # noqa: E402
from codesft.curate.config import CurateConfig  # noqa: E402
from codesft.curate.decontam import decontaminate, load_index  # noqa: E402
from codesft.curate.pipeline import _atomic_jsonl, _post_batch, _pre_batch, _read_samples  # noqa: E402
from codesft.curate.redact import active_rules  # noqa: E402
from codesft.curate.split import split  # noqa: E402
from codesft.curate.synthetic import synthetic_stream  # noqa: E402
from codesft.executors.local import LocalExecutor  # noqa: E402
from codesft.export.formats import compatibility  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run(n: int, workers: int, work: Path) -> dict:
    cfg = CurateConfig(balance={"targets": {"conversation": 0.15}}).resolved()
    load_index(tuple(sorted(cfg.decontam.benchmarks)), cfg.decontam.ngram, cfg.decontam.min_substring_chars)
    ex = LocalExecutor(workers=workers, batch_size=512)
    out: dict = {"records": n, "workers": workers}
    t0 = time.perf_counter()
    stream = ex.map_batches(functools.partial(_pre_batch, ncfg=cfg.normalize, rules=active_rules(cfg.redact)),
                            synthetic_stream(n))
    stream = ex.map_batches(functools.partial(_post_batch, scfg=cfg.score, gcfg=cfg.gate), stream)
    _atomic_jsonl(work / "a.jsonl", (s.to_json() for s in stream))
    t1 = time.perf_counter()
    out["phase_a_s"], out["rss_after_a_mb"] = round(t1 - t0, 1), round(rss_mb(), 1)

    tracemalloc.start()
    plan = dedup.build_plan(_read_samples(work / "a.jsonl"), cfg.dedup)
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    out["dedup_index_mb"] = round(index_bytes / 2**20, 1)
    out["dedup_index_mb_per_million"] = round(index_bytes / 2**20 * 1e6 / n, 0)
    out["dedup_clusters"] = plan.clusters
    t2 = time.perf_counter()
    s = dedup.apply_plan(_read_samples(work / "a.jsonl"), plan)
    s = decontaminate(s, cfg.decontam)
    s = split(s, cfg.split, cfg.seed)
    _atomic_jsonl(work / "b.jsonl", (x.to_json() for x in s))
    del plan
    t3 = time.perf_counter()
    bplan = bal.plan_balance(_read_samples(work / "b.jsonl"), cfg.balance)
    kept = rejected = 0
    for x in bal.apply_balance(_read_samples(work / "b.jsonl"), bplan, cfg.balance, cfg.seed):
        if x.quality.decision == "rejected":
            rejected += 1
        else:
            compatibility(x, cfg.formats)
            kept += 1
    t4 = time.perf_counter()
    out.update({"dedup_index_s": round(t2 - t1, 1), "dedup_decontam_split_s": round(t3 - t2, 1),
                "balance_export_check_s": round(t4 - t3, 1), "total_s": round(t4 - t0, 1),
                "records_per_s": round(n / (t4 - t0)), "phase_a_records_per_s": round(n / (t1 - t0)),
                "kept": kept, "rejected": rejected,
                "peak_rss_main_mb": round(rss_mb(), 1), "peak_rss_worker_mb": round(children_rss_mb(), 1)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, nargs="+", default=[100_000])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    for n in args.records:
        with tempfile.TemporaryDirectory(prefix="codesft-bench-") as tmp:
            print(json.dumps(run(n, args.workers, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
