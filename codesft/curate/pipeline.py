"""The curate run: read -> normalize -> redact -> verify -> score -> gate | dedup -> decontam -> split
| balance -> bundle.

Three phases, each ending in a checkpoint written atomically under OUT/NAME/.work-v<version>/
(phase_a.jsonl + its side files, phase_b.jsonl) and recorded in state.json with a fingerprint of the
inputs and config; a restarted run skips finished phases and reuses sandbox verdicts from
verify_cache.jsonl. Per-record work runs in the executor's workers (see `batches`), including the
per-record inputs of dedup, decontamination, split and balance; the main process reads, builds the
two global plans (dedup clusters, balance ratios) and writes files in order, so the output does not
depend on the number of workers.
Checkpoints are written after redaction, so no secret reaches disk in clear. The work dir is
removed once the bundle is in place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from codesft.curate import balance as balance_mod
from codesft.curate import batches
from codesft.curate import dedup as dedup_mod
from codesft.curate.config import CurateConfig
from codesft.curate.gate import fork, gate_one, reject
from codesft.curate.normalize import normalize_one
from codesft.curate.redact import active_rules, redact_one, redact_value
from codesft.curate.score import score_batch
from codesft.curate.verify import verify
from codesft.export.bundle import bundle_path
from codesft.schema import Sample
from codesft.sources import check_inputs, parse_input, read_source
from codesft.sources.inputs import walk_files
from codesft.sources.base import ReadError

Progress = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Meter:
    """Counts records through a stream and reports the rate every `every` seconds."""

    def __init__(self, label: str, progress: Progress, every: float = 2.0):
        self.label, self.progress, self.every = label, progress, every
        self.n, self.t0, self.last = 0, time.monotonic(), time.monotonic()

    def wrap(self, items: Iterable[Any]) -> Iterator[Any]:
        for x in items:
            self.n += 1
            now = time.monotonic()
            if now - self.last >= self.every:
                self.last = now
                self.progress(f"  {self.label}: {self.n:,} records ({self.n / (now - self.t0):,.0f}/s)")
            yield x

    def done(self) -> float:
        dt = time.monotonic() - self.t0
        self.progress(f"  {self.label}: {self.n:,} records in {dt:.1f}s ({self.n / dt if dt else 0:,.0f}/s)")
        return dt


# Sample-level batch functions (kept for callers that hold Samples); the pipeline uses `batches`.
def _pre_batch(batch: list[Sample], ncfg, rules) -> list[Sample]:
    return [redact_one(normalize_one(s, ncfg), rules) for s in batch]


def _post_batch(batch: list[Sample], scfg, gcfg) -> list[Sample]:
    return [gate_one(s, gcfg, scfg) for s in score_batch(batch, scfg)]


def _atomic_jsonl(path: Path, lines: Iterable[str]) -> int:
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def _read_samples(path: Path) -> Iterator[Sample]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield Sample.from_json(line)


def _input_fingerprint(spec: str) -> str:
    kind, path = parse_input(spec)
    p = Path(path)
    h = hashlib.sha256(spec.encode())
    if kind == "git" and p.is_dir():
        proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(p), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False)
        h.update(proc.stdout.encode())
        return h.hexdigest()
    files = walk_files(p) if p.exists() else []  # the files the readers may read: no tool output
    for f in files:
        h.update(str(f).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def fingerprint(cfg: CurateConfig) -> str:
    h = hashlib.sha256(json.dumps(cfg.pipeline_dict(), sort_keys=True).encode())
    for spec in cfg.inputs:
        h.update(_input_fingerprint(spec).encode())
    return h.hexdigest()


class _VerifyCache(dict):
    """Sandbox verdicts persisted as JSONL, appended after every batch; a torn last line is ignored."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.saved: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    key, verdict = json.loads(line)
                except (json.JSONDecodeError, ValueError):
                    continue
                self[key] = verdict
                self.saved.add(key)

    def persist(self, _cache: Any = None) -> None:
        new = [k for k in self if k not in self.saved]
        if new:
            with self.path.open("a", encoding="utf-8") as fh:
                for k in new:
                    fh.write(json.dumps([k, self[k]], sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.saved.update(new)


def read_inputs(cfg: CurateConfig, errors: list[dict], counts: dict[str, int]) -> Iterator[Sample]:
    options = cfg.sources.model_dump()
    for spec in cfg.inputs:
        counts.setdefault(spec, 0)
        for rec in read_source(spec, options):
            counts[spec] += 1
            if isinstance(rec, ReadError):
                errors.append(rec.to_dict())
            else:
                yield rec


def phase_a(cfg: CurateConfig, work: Path, progress: Progress, executor,
            records: Iterable[Sample] | None = None) -> dict[str, Any]:
    """read -> normalize -> redact -> verify -> score -> gate, to phase_a.jsonl + read_errors.jsonl,
    plus the per-record inputs of phase B: phase_a.dedup.bin (dedup index rows of live records) and
    phase_a.side.jsonl ([live, balance bucket, decontamination reason] per record). `records`
    replaces the configured inputs (the throughput benchmark's synthetic stream)."""
    rules = active_rules(cfg.redact) if cfg.redact.enabled else []
    errors: list[dict] = []  # unreadable lines only; bounded by the bad input, not the good
    counts: dict[str, int] = {}
    meter = Meter("read+normalize+redact+verify+score+gate", progress)
    if records is not None:
        counts["records"] = 0

        def counted(it: Iterable[Sample]) -> Iterator[Sample]:
            for s in it:
                counts["records"] += 1
                yield s
        records = counted(records)
    lines = (batches.transport(s) for s in (records if records is not None else read_inputs(cfg, errors, counts)))
    if cfg.dedup.enabled:  # import datasketch (and set up the permutations) once, before the workers fork
        dedup_mod.feature_dtype(cfg.dedup)
    cache = None
    if cfg.verify.enabled:
        cache = _VerifyCache(work / "verify_cache.jsonl")
        stream = executor.map_batches(functools.partial(batches.pre_batch, cfg=cfg, rules=rules), lines)
        stream = verify(stream, cfg.verify, cache=cache, on_batch=cache.persist)
        out = executor.map_batches(functools.partial(batches.post_batch, cfg=cfg), stream)
    else:
        out = executor.map_batches(functools.partial(batches.phase_a_batch, cfg=cfg, rules=rules), lines)
    n = write_phase_a(work, meter.wrap(out))
    if cache is not None:
        cache.persist()
    meter.done()
    _atomic_jsonl(work / "read_errors.jsonl", (json.dumps(redact_value(e, rules), sort_keys=True) for e in errors))
    return {"records": n, "read_errors": len(errors), "inputs_by_spec": counts}


def write_phase_a(work: Path, out: Iterable[tuple[str, batches.Side]]) -> int:
    """Write the phase A checkpoint and its side files (atomically, each)."""
    paths = [work / "phase_a.jsonl", work / "phase_a.side.jsonl", work / "phase_a.dedup.bin"]
    tmps = [p.with_suffix(p.suffix + ".tmp") for p in paths]
    n = 0
    with tmps[0].open("w", encoding="utf-8", newline="\n") as recs, \
            tmps[1].open("w", encoding="utf-8", newline="\n") as side, tmps[2].open("wb") as index:
        for line, (live, row, reason, bucket) in out:
            recs.write(line + "\n")
            side.write(json.dumps([live, bucket, reason], ensure_ascii=False) + "\n")
            if row:
                index.write(row)
            n += 1
    for tmp, path in zip(tmps, paths):
        os.replace(tmp, path)
    return n


def phase_b(cfg: CurateConfig, work: Path, progress: Progress) -> dict[str, Any]:
    """dedup (plan from the index rows) -> decontaminate -> split, to phase_b.jsonl.

    Split assignments and decontamination verdicts were computed per record in phase A (pure
    functions of the record); here they are applied in the stage order: a record that dedup rejects
    is not reported as contaminated. Records no stage changes are copied through unparsed."""
    stats: dict[str, Any] = {}
    if cfg.dedup.enabled:
        plan = dedup_mod.plan_from_file(work / "phase_a.dedup.bin", cfg.dedup)
    else:
        plan = dedup_mod.DedupPlan()
    stats["dedup"] = {"clusters": plan.clusters, "records_in_clusters": len(plan.members),
                      "near_candidates": plan.band_hits, "near_confirmed": plan.confirmed}
    stats["dedup_index_bytes"], stats["dedup_index_rows"] = plan.index_bytes, plan.records
    meter = Meter("dedup+decontam+split", progress)
    buckets: dict[str, int] = {}

    def lines() -> Iterator[str]:
        idx = -1
        with (work / "phase_a.jsonl").open(encoding="utf-8") as recs, \
                (work / "phase_a.side.jsonl").open(encoding="utf-8") as side:
            for line, meta in zip(recs, side):
                live, bucket, reason = json.loads(meta)
                line = line.rstrip("\n")
                if live:
                    idx += 1
                    info = plan.members.get(idx)
                    if info is not None or reason is not None:
                        s = Sample.from_json(line)
                        if info is not None:
                            s = dedup_mod.apply_member(s, info)
                        if reason is not None and cfg.decontam.enabled and s.quality.decision != "rejected":
                            s = reject(fork(s), reason, "decontam")
                        live = s.quality.decision != "rejected"
                        line = s.to_json()
                if live:
                    buckets[bucket] = buckets.get(bucket, 0) + 1
                yield line

    _atomic_jsonl(work / "phase_b.jsonl", meter.wrap(lines()))
    meter.done()
    stats["balance_counts"] = buckets
    return stats


def phase_c(cfg: CurateConfig, work: Path, progress: Progress, executor, stats: dict[str, Any]) -> Path:
    """balance -> export -> bundle: per-record rows in the workers, files written here in order."""
    from codesft.export.bundle import write_prepared

    bplan = balance_mod.plan_from_counts(stats["balance_counts"], cfg.balance)
    stats = {**{k: v for k, v in stats.items() if k != "balance_counts"}, "balance": bplan.to_dict()}
    config = cfg.pipeline_dict()

    def lines() -> Iterator[str]:
        with (work / "phase_b.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                yield line.rstrip("\n")

    meter = Meter("balance+export", progress)
    prepared = executor.map_batches(functools.partial(batches.phase_c_batch, cfg=cfg, keep_ratio=bplan.keep_ratio,
                                                      formats=list(cfg.formats), config=config), lines())
    path = write_prepared(meter.wrap(prepared), _errors(work), cfg.out, cfg.name, cfg.version, config,
                          parent_version=cfg.parent_version, formats=cfg.formats, stats=stats)
    meter.done()
    return path


def _errors(work: Path) -> Iterator[dict]:
    with (work / "read_errors.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def run_curate(cfg: CurateConfig, progress: Progress = _stderr) -> tuple[Path, dict[str, Any]]:
    """Run the whole pipeline; returns (bundle path, manifest counts)."""
    from codesft.executors import make_executor

    cfg = cfg.resolved()
    if not cfg.inputs:
        raise ValueError("no inputs: give at least one --input KIND:PATH")
    check_inputs(cfg.inputs, cfg.allow_missing)  # InputError (exit 2) before any work
    work = bundle_path(cfg.out, cfg.name, cfg.version).parent / f".work-v{cfg.version}"
    executor = make_executor(cfg.executor, cfg.workers)  # a missing extra stops the run before it writes anything
    fp = fingerprint(cfg)
    state_path = work / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("fingerprint") != fp:
        shutil.rmtree(work, ignore_errors=True)
        state = {"fingerprint": fp, "done": {}}
    work.mkdir(parents=True, exist_ok=True)

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True))
        os.replace(tmp, state_path)

    save_state()
    if "a" not in state["done"]:
        progress("phase 1/3: read, normalize, redact, verify, score, gate")
        state["done"]["a"] = phase_a(cfg, work, progress, executor)
        save_state()
    else:
        progress("phase 1/3: done in an earlier run, reusing its checkpoint")
    if "b" not in state["done"]:
        progress("phase 2/3: dedup, decontaminate, split")
        state["done"]["b"] = phase_b(cfg, work, progress)
        save_state()
    else:
        progress("phase 2/3: done in an earlier run, reusing its checkpoint")
    progress("phase 3/3: balance, export, bundle")
    a, b = state["done"]["a"], state["done"]["b"]
    stats = {"inputs_by_spec": a["inputs_by_spec"], "read_errors": a["read_errors"], "dedup": b["dedup"],
             "balance_counts": b["balance_counts"]}
    path = phase_c(cfg, work, progress, executor, stats)
    manifest = json.loads((path / "manifest.json").read_text())
    counts = manifest["counts"]
    read_total = sum(a["inputs_by_spec"].values())
    if counts["inputs"] != read_total:  # the invariant the manifest promises; fail loudly if broken
        raise RuntimeError(f"record accounting broken: read {read_total}, bundle has {counts['inputs']}")
    shutil.rmtree(work, ignore_errors=True)
    return path, counts


def one_line_summary(path: Path, counts: dict[str, Any]) -> str:
    top = sorted(counts["rejected_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasons = ", ".join(f"{k} {v}" for k, v in top) or "none"
    return (f"{path}: {counts['inputs']} inputs -> {counts['accepted']} accepted / {counts['downgraded']} downgraded / "
            f"{counts['rejected']} rejected (top reasons: {reasons})")
