"""Throughput and memory of the non-executing curate stages on synthetic records.

Runs the curate driver's own passes over `codesft.curate.pipeline.STAGES` on a synthetic record stream,
with verification disabled (its cost is the sandbox's, measured there):

  records (workers): normalize, redact, score (ruff screen + bandit), gate, split, and the per-record
                     inputs of the later stages: dedup rows (MinHash LSH band keys), decontamination
                     verdicts, balance buckets                                    -> records.jsonl
  dedup (main):      dedup plan from the compact index, apply dedup/decontam     -> after-dedup.jsonl
  export (workers):  balance, export rows; main writes the whole bundle (samples, rejected, 5 JSONL
                     formats, Parquet, manifest, summary, report.html)

Records stream from a generator through the JSONL checkpoints exactly as in `codesft curate`. Peak RSS
is ru_maxrss of this process and of the largest worker. The dedup index is the numpy array the plan is
built from; its bytes per million live records are printed.

    python benchmarks/curate_throughput.py --records 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesft.curate import driver  # noqa: E402
from codesft.curate.checkpoint import read_jsonl  # noqa: E402
from codesft.curate.config import CurateConfig  # noqa: E402
from codesft.curate.decontam import load_index  # noqa: E402
from codesft.curate.pipeline import STAGES, records_pass  # noqa: E402
from codesft.curate.synthetic import synthetic_stream  # noqa: E402
from codesft.executors.local import LocalExecutor  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run(n: int, workers: int, work: Path, batch_size: int) -> dict:
    cfg = CurateConfig(balance={"targets": {"conversation": 0.15}}, verify={"enabled": False}, out=str(work / "out"),
                       name="bench").resolved()
    load_index(tuple(sorted(cfg.decontam.benchmarks)), cfg.decontam.ngram, cfg.decontam.min_substring_chars)
    ex = LocalExecutor(workers=workers, batch_size=batch_size)
    (work / "w").mkdir()
    quiet = lambda msg: None  # noqa: E731
    out: dict = {"records": n, "workers": workers}
    c0, k0, load0 = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    t0 = time.perf_counter()
    a = records_pass(cfg, work / "w", quiet, ex, records=synthetic_stream(n))
    t1 = time.perf_counter()
    out["rss_after_records_mb"] = round(rss_mb(), 1)
    b = driver.whole_pass(cfg, work / "w", quiet, STAGES, 0)
    t2 = time.perf_counter()
    out["rss_after_dedup_mb"] = round(rss_mb(), 1)
    stats = {"inputs_by_spec": a["inputs_by_spec"], "read_errors": a["read_errors"], "dedup": b["stats"]}
    path = driver.export_pass(cfg, work / "w", quiet, ex, STAGES, stats, read_jsonl(work / "w" / "read_errors.jsonl"))
    t3 = time.perf_counter()
    main_cpu, child_cpu = cpu_s(resource.RUSAGE_SELF) - c0, cpu_s(resource.RUSAGE_CHILDREN) - k0
    counts = json.loads((path / "manifest.json").read_text())["counts"]
    assert counts["inputs"] == n, counts["inputs"]
    rows, index_bytes = b["metrics"]["dedup_index_rows"], b["metrics"]["dedup_index_bytes"]
    out.update({
        "records_pass_s": round(t1 - t0, 1), "dedup_pass_s": round(t2 - t1, 1), "export_pass_s": round(t3 - t2, 1),
        "total_s": round(t3 - t0, 1), "records_per_s": round(n / (t3 - t0)),
        "records_pass_records_per_s": round(n / (t1 - t0)), "dedup_pass_records_per_s": round(n / (t2 - t1)),
        "export_pass_records_per_s": round(n / (t3 - t2)),
        "accepted": counts["accepted"], "downgraded": counts["downgraded"], "rejected": counts["rejected"],
        "rejected_by_reason": counts["rejected_by_reason"], "dedup_clusters": b["stats"]["clusters"],
        "dedup_index_rows": rows, "dedup_index_mb": round(index_bytes / 2**20, 2),
        "dedup_index_bytes_per_record": round(index_bytes / rows, 1) if rows else 0,
        "dedup_index_mb_per_million": round(index_bytes / rows * 1e6 / 2**20, 1) if rows else 0,
        "peak_rss_main_mb": round(rss_mb(), 1), "peak_rss_worker_mb": round(children_rss_mb(), 1),
        # CPU time (all processes: main, workers, ruff) per record, and the machine's load while measuring:
        # on a shared machine wall-clock records/s understates what two idle cores do.
        "cpu_ms_per_record_main": round(main_cpu / n * 1e3, 3), "cpu_ms_per_record_workers": round(child_cpu / n * 1e3, 3),
        "records_per_s_if_2_idle_cores": round(n / max(main_cpu, (main_cpu + child_cpu) / 2)),
        "loadavg_1m_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)], "cpus": os.cpu_count(),
    })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, nargs="+", default=[100_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--tmp", default=None, help="Directory for the checkpoints and the bundle (default: system temp).")
    args = ap.parse_args()
    for n in args.records:
        with tempfile.TemporaryDirectory(prefix="codesft-bench-", dir=args.tmp) as tmp:
            print(json.dumps(run(n, args.workers, Path(tmp), args.batch_size)), flush=True)


if __name__ == "__main__":
    main()
