"""The curate run: the stages, in order, as one declared list (`STAGES`), and `run_curate`.

A stage is a small function over one `Sample` (`Map`), a batch of them (`Batch`), a keep-or-drop check
(`Filter`: a reason drops the record, rejected by that stage), the sandbox (`Sandbox`), or a
whole-dataset stage (dedup, balance). Adding a per-record stage is one function here and one line in
`STAGES`. `codesft.curate.driver` runs the list: it groups consecutive per-record stages into executor
batches (local processes or Ray), runs verify in the main process through one sandbox pool, and
checkpoints at the whole-dataset stages, so a killed run restarts from the last finished pass under
OUT/NAME/.work-v<version>/ (and reuses sandbox verdicts). The work dir is removed once the bundle is in
place.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from codesft.bundle import bundle_path
from codesft.curate import driver
from codesft.curate.balance import BalanceStage
from codesft.curate.checkpoint import Progress, State, atomic_jsonl, fingerprint, read_jsonl
from codesft.curate.config import CurateConfig
from codesft.curate.decontam import verdict
from codesft.curate.dedup import DedupStage
from codesft.curate.driver import Batch, Filter, Map, Sandbox
from codesft.curate.gate import gate_one
from codesft.curate.normalize import normalize_one
from codesft.curate.redact import active_rules, redact_one, redact_value
from codesft.curate.score import score_batch
from codesft.curate.split import with_split
from codesft.schema import Sample
from codesft.sources import check_inputs, read_source
from codesft.sources.base import ReadError


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def normalize(s: Sample, cfg: CurateConfig) -> Sample:
    return normalize_one(s, cfg.normalize)


def redact(s: Sample, cfg: CurateConfig) -> Sample:
    rules = active_rules(cfg.redact) if cfg.redact.enabled else []
    return redact_one(s, rules) if rules else s


def score(batch: list[Sample], cfg: CurateConfig) -> list[Sample]:
    return score_batch(batch, cfg.score)  # one ruff process per batch


def gate(s: Sample, cfg: CurateConfig) -> Sample:
    return gate_one(s, cfg.gate, cfg.score)


def split(s: Sample, cfg: CurateConfig) -> Sample:
    return with_split(s, cfg.split, cfg.seed)


def decontam(s: Sample, cfg: CurateConfig) -> str | None:
    return verdict(s, cfg.decontam)


STAGES: tuple[driver.Stage, ...] = (
    Map("normalize", normalize),
    Map("redact", redact),
    Sandbox("verify"),
    Batch("score", score),
    Map("gate", gate),
    # split is a pure function of (seed, group key), written on every record, rejected or not: assigned
    # before the whole-dataset stages, it needs no pass of its own, and the bundle is the same.
    Map("split", split),
    DedupStage(),
    Filter("decontam", decontam),  # after dedup: a duplicate is reported as a duplicate, not as contaminated
    BalanceStage(),
)
LAYOUT = driver.layout(STAGES)  # an order the driver cannot run fails at import, not mid-run


def read_inputs(cfg: CurateConfig, errors: list[dict], counts: dict[str, int]) -> Iterator[Sample]:
    """The records of every input; unreadable lines go to `errors`, every line read is counted by input."""
    options = cfg.sources.model_dump()
    for spec in cfg.inputs:
        counts.setdefault(spec, 0)
        for rec in read_source(spec, options):
            counts[spec] += 1
            if isinstance(rec, ReadError):
                errors.append(rec.to_dict())
            else:
                yield rec


def _counted(records: Iterable[Sample], counts: dict[str, int]) -> Iterator[Sample]:
    for s in records:
        counts["records"] += 1
        yield s


def records_pass(cfg: CurateConfig, work: Path, progress: Progress, executor,
                 records: Iterable[Sample] | None = None) -> dict[str, Any]:
    """Read and run the per-record stages (checkpoint `records.*` + read_errors.jsonl). `records` replaces
    the configured inputs (the throughput benchmark's synthetic stream)."""
    errors: list[dict] = []  # unreadable lines only; bounded by the bad input, not the good
    counts: dict[str, int] = {}
    if records is not None:
        counts["records"] = 0
    stream = read_inputs(cfg, errors, counts) if records is None else _counted(records, counts)
    n = driver.per_record_pass(cfg, work, progress, executor, STAGES, stream)
    # Redacted before it reaches disk; the driver redacts it again, with every rule, for the bundle.
    rules = active_rules(cfg.redact) if cfg.redact.enabled else []
    atomic_jsonl(work / "read_errors.jsonl", (json.dumps(redact_value(e, rules), sort_keys=True) for e in errors))
    return {"records": n, "read_errors": len(errors), "inputs_by_spec": counts}


def run_passes(cfg: CurateConfig, work: Path, state: State, progress: Progress, executor,
               records: Iterable[Sample] | None = None) -> Path:
    """Every pass of `STAGES` in `work`, skipping the ones `state` has done; returns the bundle path."""
    names = driver.whole_passes(LAYOUT)
    total = 2 + len(names)
    head = ", ".join(st.name for st in LAYOUT.head)
    if "records" in state.done:
        progress(f"phase 1/{total}: done in an earlier run, reusing its checkpoint")
    else:
        progress(f"phase 1/{total}: read, {head}")
        state.record("records", records_pass(cfg, work, progress, executor, records))
    stats = {k: state.done["records"][k] for k in ("inputs_by_spec", "read_errors")}
    for k, name in enumerate(names):
        if name in state.done:
            progress(f"phase {k + 2}/{total}: done in an earlier run, reusing its checkpoint")
        else:
            chunk = [LAYOUT.chunks[k][0].name, *(f.name for f in LAYOUT.chunks[k][1])]
            progress(f"phase {k + 2}/{total}: {', '.join(chunk)}")
            state.record(name, driver.whole_pass(cfg, work, progress, STAGES, k))
        stats[name] = state.done[name]["stats"]
    last = [st.name for st in (LAYOUT.chunks[-1][0], *LAYOUT.chunks[-1][1])] if LAYOUT.chunks else []
    progress(f"phase {total}/{total}: {', '.join([*last, 'export, bundle'])}")
    return driver.export_pass(cfg, work, progress, executor, STAGES, stats, read_jsonl(work / "read_errors.jsonl"))


def run_curate(cfg: CurateConfig, progress: Progress = _stderr) -> tuple[Path, dict[str, Any]]:
    """Run the whole pipeline; returns (bundle path, manifest counts)."""
    from codesft.executors import make_executor

    cfg = cfg.resolved()
    if not cfg.inputs:
        raise ValueError("no inputs: give at least one --input KIND:PATH")
    check_inputs(cfg.inputs, cfg.allow_missing)  # InputError (exit 2) before any work
    work = bundle_path(cfg.out, cfg.name, cfg.version).parent / f".work-v{cfg.version}"
    executor = make_executor(cfg.executor, cfg.workers)  # a missing extra stops the run before it writes anything
    state = State(work, fingerprint(cfg))
    path = run_passes(cfg, work, state, progress, executor)
    counts = json.loads((path / "manifest.json").read_text())["counts"]
    read_total = sum(state.done["records"]["inputs_by_spec"].values())
    if counts["inputs"] != read_total:  # the invariant the manifest promises; fail loudly if broken
        raise RuntimeError(f"record accounting broken: read {read_total}, bundle has {counts['inputs']}")
    shutil.rmtree(work, ignore_errors=True)
    return path, counts


def one_line_summary(path: Path, counts: dict[str, Any]) -> str:
    top = sorted(counts["rejected_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasons = ", ".join(f"{k} {v}" for k, v in top) or "none"
    return (f"{path}: {counts['inputs']} inputs -> {counts['accepted']} accepted / {counts['downgraded']} downgraded / "
            f"{counts['rejected']} rejected (top reasons: {reasons})")
