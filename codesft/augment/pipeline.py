"""`augment_bundle(bundle_path, config) -> Path`: new records from a teacher, verified in the sandbox and gated,
written with the bundle's own records as a new bundle version.

Per batch of eligible records (train/validation, with tests, a solution and a single task) and per strategy,
the candidates not yet in the work log are asked of the teacher and judged (`judge.Judge`; one `SandboxPool`
for the run, after the canary), then appended to it. When every candidate is in, the records are built from
the log alone, in the bundle's order (`candidate`), the paraphrases of a record are compared with each other,
and every kept candidate goes through the gates (`gates.Gates`). The bundle's records are written unchanged,
the augmented ones after them; every dropped candidate goes to rejected.jsonl with its reason. A killed run
resumes from the work log and writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesft.augment.config import AugmentConfig
from codesft.augment.judge import Judge, check_language
from codesft.augment.records import (
    KEPT,
    Attempt,
    attempt_key,
    candidate,
    instruction_of,
    why_not,
)
from codesft.augment.work import AttemptLog
from codesft.bundle.reasons import reason_code
from codesft.bundle.staging import batched, staged
from codesft.schema import Sample

Log = Callable[[str], None]
GATE_BATCH = 64  # augmented records per score batch (one ruff process each)


@dataclass
class StrategyCounts:
    records: int = 0  # records the strategy made candidates for
    candidates: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason code -> candidates
    by_operation: dict[str, Counter] = field(default_factory=dict)  # operation -> {candidates, kept}

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "candidates": self.candidates, "kept": self.kept,
                "dropped": dict(sorted(self.dropped.items())),
                "by_operation": {op: dict(sorted(c.items())) for op, c in sorted(self.by_operation.items())}}


@dataclass
class AugmentReport:
    """The manifest's `augment` counts: per strategy, what was kept and dropped, and why."""
    strategies: dict[str, StrategyCounts] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # why a record of an augmented split was not augmented

    def counts(self, strategy: str) -> StrategyCounts:
        return self.strategies.setdefault(strategy, StrategyCounts())

    def add(self, s: Sample) -> None:
        info = s.augmentation
        c = self.counts(info.strategy)
        op = c.by_operation.setdefault(info.operation, Counter({"candidates": 0, "kept": 0}))
        c.candidates += 1
        op["candidates"] += 1
        if s.quality.decision == "rejected":
            from codesft.bundle import primary_reason

            c.dropped[reason_code(primary_reason(s.quality.reasons))] += 1
        else:
            c.kept += 1
            op["kept"] += 1

    def to_dict(self) -> dict[str, Any]:
        per = {k: v.to_dict() for k, v in self.strategies.items()}
        return {"strategies": per, "kept": sum(v.kept for v in self.strategies.values()),
                "dropped": sum(sum(v.dropped.values()) for v in self.strategies.values()),
                "skipped": dict(sorted(self.skipped.items()))}


def _eligible(bundle: Any, cfg: AugmentConfig) -> Iterator[Sample]:
    """The records augmented, in the bundle's order (the first `limit` of them)."""
    return itertools.islice((s for s in bundle.samples() if why_not(s, cfg) is None), cfg.limit)


def _fill(bundle: Any, cfg: AugmentConfig, work: AttemptLog, log: Log) -> None:
    from codesft.evaluate.canary import check_sandbox
    from codesft.sandbox import SandboxPool

    limits = cfg.sandbox_settings().limits()
    check_sandbox(limits, workers=cfg.workers)  # raises HarnessFault before any candidate is judged
    with SandboxPool(limits, cfg.workers) as pool:
        if "translate" in cfg.strategy:
            check_language(pool, cfg.target_language)
        judge = Judge(cfg, work, pool, f"{bundle.name}@{bundle.version}", log)
        try:
            for batch in batched(_eligible(bundle, cfg), cfg.batch_size):
                for strategy in cfg.strategy:
                    judge.batch(strategy, batch)
        finally:
            judge.close()


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def _paraphrases(parent: Sample, attempts: list[Attempt], threshold: float) -> None:
    """Drop a paraphrase as near_duplicate_paraphrase when it is as close as `threshold` to the original
    instruction or to a paraphrase kept before it (rapidfuzz's normalised Indel similarity)."""
    from rapidfuzz import fuzz

    kept = [_normalised(instruction_of(parent))]
    for a in attempts:
        if a.status != KEPT:
            continue
        text = _normalised(a.instruction)
        close = max(((fuzz.ratio(text, k) / 100.0, i) for i, k in enumerate(kept)), default=(0.0, 0))
        if close[0] >= threshold:
            of = "the original instruction" if close[1] == 0 else "an earlier paraphrase"
            a.drop("near_duplicate_paraphrase", f"similarity {close[0]:.3f} to {of}")
        else:
            kept.append(text)


def _candidates(bundle: Any, cfg: AugmentConfig, work: AttemptLog, report: AugmentReport) -> Iterator[Sample]:
    """Every candidate as a record, in the bundle's order, then strategy, then index; kept by its strategy's
    checks or rejected with the reason."""
    parent_bundle = f"{bundle.name}@{bundle.version}"
    eligible = 0
    for s in bundle.samples():
        why = why_not(s, cfg)
        if why is None and cfg.limit is not None and eligible >= cfg.limit:
            why = "limit"
        if why is not None:
            if why != "split":
                report.skipped[why] += 1
            continue
        eligible += 1
        for strategy in cfg.strategy:
            attempts = [work.attempts[attempt_key(s.sample_id, strategy, i)] for i in range(cfg.n)]
            if strategy == "rephrase":
                attempts = [Attempt(**a.to_dict()) for a in attempts]  # the log's copy stays as judged
                _paraphrases(s, attempts, cfg.paraphrase_max_similarity)
            report.counts(strategy).records += 1
            for a in attempts:
                yield candidate(s, a, cfg, parent_bundle)


def _gated(bundle: Any, cfg: AugmentConfig, work: AttemptLog, report: AugmentReport) -> Iterator[Sample]:
    from codesft.augment.gates import Gates

    gates = Gates(bundle.config())
    for s in bundle.samples():
        gates.add_original(s)
    for batch in batched(_candidates(bundle, cfg, work, report), GATE_BATCH):
        live = iter(gates.apply([s for s in batch if s.quality.decision != "rejected"]))
        for s in batch:
            out = s if s.quality.decision == "rejected" else next(live)
            report.add(out)
            yield out


def _prepared(s: Sample, formats: list[str], config: dict[str, Any]) -> dict[str, Any]:
    from codesft.bundle import prepare, prepare_rejected, rejected_entry
    from codesft.curate.redact import redact_rejected_entry

    if s.quality.decision == "rejected":
        # A candidate dropped before the redact gate still holds the teacher's raw text: redacted here, with
        # every rule, as curate redacts its rejected entries.
        return prepare_rejected(redact_rejected_entry(rejected_entry(s)))
    return prepare(s, formats, config)


def augment_bundle(bundle_path: str | Path, config: AugmentConfig | dict[str, Any],
                   report: AugmentReport | None = None, log: Log = lambda m: print(m, file=sys.stderr)) -> Path:
    """Write `<version>+augment` (or `config.version`) of the bundle; returns its path."""
    from codesft.bundle import ALL_FORMATS, load_bundle, prepare, write_prepared

    cfg = config if isinstance(config, AugmentConfig) else AugmentConfig.model_validate(config)
    path = Path(bundle_path)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"bundle not found: {path}")
    bundle = load_bundle(path)
    report = report if report is not None else AugmentReport()
    version = cfg.version or f"{bundle.version}+augment"
    out_root = Path(cfg.out) if cfg.out else bundle.path.parent.parent
    settings = {**cfg.run_settings(), "bundle": f"{bundle.name}@{bundle.version}"}
    work = AttemptLog(out_root / bundle.name / f".augment-v{version}", settings, cfg.resume)
    _fill(bundle, cfg, work, log)
    # Where the run wrote and which server answered are this machine's details, not the data's.
    bundle_config = {**bundle.config(),
                     "augment": cfg.model_dump(mode="json", exclude={"out", "resume", "workers", "base_url"})}
    formats = list(bundle.manifest.get("formats") or ALL_FORMATS)
    with tempfile.TemporaryDirectory(dir=out_root, prefix=".augment-") as td:
        augmented = staged(_gated(bundle, cfg, work, report), Path(td) / "augmented.jsonl")
        counts = report.to_dict()
        prepared = itertools.chain((prepare(s, formats, bundle_config) for s in bundle.samples()),
                                   (_prepared(s, formats, bundle_config) for s in augmented))
        return write_prepared(prepared, bundle.rejected(), out_root, bundle.name, version, bundle_config,
                              parent_version=bundle.version, formats=formats, stats={"augment": counts},
                              manifest_extra={"augment": counts})
