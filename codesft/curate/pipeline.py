"""The curate run: read -> normalize -> redact -> verify -> score -> gate | dedup -> decontam -> split
| balance -> bundle.

Three phases, each ending in a checkpoint written atomically under OUT/NAME/.work-v<version>/
(phase_a.jsonl, phase_b.jsonl) and recorded in state.json with a fingerprint of the inputs and
config; a restarted run skips finished phases and reuses sandbox verdicts from verify_cache.jsonl.
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
from codesft.curate import dedup as dedup_mod
from codesft.curate.config import CurateConfig
from codesft.curate.decontam import decontaminate
from codesft.curate.gate import gate_one
from codesft.curate.normalize import normalize_one
from codesft.curate.redact import active_rules, redact_one, redact_value
from codesft.curate.score import score_one
from codesft.curate.split import split
from codesft.curate.verify import verify
from codesft.schema import Sample
from codesft.sources import parse_input, read_source
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


# Batch functions run in executor workers; module-level so they pickle.
def _pre_batch(batch: list[Sample], ncfg, rules) -> list[Sample]:
    return [redact_one(normalize_one(s, ncfg), rules) for s in batch]


def _post_batch(batch: list[Sample], scfg, gcfg) -> list[Sample]:
    return [gate_one(score_one(s, scfg), gcfg) for s in batch]


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
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else ([p] if p.exists() else [])
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


def phase_a(cfg: CurateConfig, work: Path, progress: Progress, executor) -> dict[str, Any]:
    """read -> normalize -> redact -> verify -> score -> gate, to phase_a.jsonl + read_errors.jsonl."""
    rules = active_rules(cfg.redact) if cfg.redact.enabled else []
    errors: list[dict] = []  # unreadable lines only; bounded by the bad input, not the good
    counts: dict[str, int] = {}
    cache = _VerifyCache(work / "verify_cache.jsonl")
    meter = Meter("read+normalize+redact+verify+score+gate", progress)
    stream = read_inputs(cfg, errors, counts)
    stream = executor.map_batches(functools.partial(_pre_batch, ncfg=cfg.normalize, rules=rules), stream)
    stream = verify(stream, cfg.verify, cache=cache, on_batch=cache.persist)
    stream = executor.map_batches(functools.partial(_post_batch, scfg=cfg.score, gcfg=cfg.gate), stream)
    n = _atomic_jsonl(work / "phase_a.jsonl", (s.to_json() for s in meter.wrap(stream)))
    cache.persist()
    meter.done()
    _atomic_jsonl(work / "read_errors.jsonl", (json.dumps(redact_value(e, rules), sort_keys=True) for e in errors))
    return {"records": n, "read_errors": len(errors), "inputs_by_spec": counts}


def phase_b(cfg: CurateConfig, work: Path, progress: Progress) -> dict[str, Any]:
    """dedup (two passes) -> decontaminate -> split, to phase_b.jsonl."""
    src = work / "phase_a.jsonl"
    stats: dict[str, Any] = {}
    plan = dedup_mod.build_plan(_read_samples(src), cfg.dedup) if cfg.dedup.enabled else dedup_mod.DedupPlan()
    stats["dedup"] = {"clusters": plan.clusters, "records_in_clusters": len(plan.members)}
    meter = Meter("dedup+decontam+split", progress)
    stream = dedup_mod.apply_plan(_read_samples(src), plan)
    stream = decontaminate(stream, cfg.decontam)
    stream = split(stream, cfg.split, cfg.seed)
    _atomic_jsonl(work / "phase_b.jsonl", (s.to_json() for s in meter.wrap(stream)))
    meter.done()
    return stats


def _errors(work: Path) -> Iterator[dict]:
    with (work / "read_errors.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def run_curate(cfg: CurateConfig, progress: Progress = _stderr) -> tuple[Path, dict[str, Any]]:
    """Run the whole pipeline; returns (bundle path, manifest counts)."""
    from codesft.executors import make_executor
    from codesft.export.bundle import write_bundle

    cfg = cfg.resolved()
    if not cfg.inputs:
        raise ValueError("no inputs: give at least one --input KIND:PATH")
    for spec in cfg.inputs:
        parse_input(spec)
    work = Path(cfg.out) / cfg.name / f".work-v{cfg.version}"
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
    executor = make_executor(cfg.executor, cfg.workers)
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
    src = work / "phase_b.jsonl"
    bplan = balance_mod.plan_balance(_read_samples(src), cfg.balance)
    stream = balance_mod.apply_balance(_read_samples(src), bplan, cfg.balance, cfg.seed)
    a = state["done"]["a"]
    stats = {"inputs_by_spec": a["inputs_by_spec"], "read_errors": a["read_errors"],
             "dedup": state["done"]["b"]["dedup"], "balance": bplan.to_dict()}
    meter = Meter("balance+export", progress)
    path = write_bundle(meter.wrap(stream), _errors(work), cfg.out, cfg.name, cfg.version, cfg.pipeline_dict(),
                        parent_version=cfg.parent_version, formats=cfg.formats, stats=stats)
    meter.done()
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
