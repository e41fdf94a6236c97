"""Batch functions the executors run in worker processes (module-level, so they pickle).

Records cross process boundaries as JSON (`model_dump_json(exclude_unset=True)` one way, so the
worker sees the same `model_fields_set` the reader produced; canonical `Sample.to_json` lines the
other way): pickling pydantic models costs ~10x more. Everything per-record and pure runs here, in
parallel; the main process only writes lines and builds the two global plans (dedup, balance).

Phase A (`phase_a_batch`): normalize -> redact -> [verify] -> score -> gate, then the per-record
inputs of the later stages, computed once in parallel and applied later in the documented order:
the dedup index row (exact key, MinHash LSH band keys), the decontamination verdict, the split
assignment (a pure function of seed and group key, written on every record as `split` does) and the
balance bucket. Phase C (`phase_c_batch`): balance verdict and the bundle's per-record rows.
"""

from __future__ import annotations

import json
from typing import Any

from codesft.curate.balance import bucket_of, keep_dict
from codesft.curate.config import CurateConfig
from codesft.curate.decontam import verdict
from codesft.curate.dedup import features
from codesft.curate.gate import gate_one
from codesft.curate.normalize import normalize_one
from codesft.curate.redact import redact_one
from codesft.curate.score import score_batch
from codesft.curate.split import with_split
from codesft.curate.verify import mark_unverified
from codesft.schema import Sample

Side = tuple[bool, bytes, "str | None", str]  # live, dedup index row, decontam reason, balance bucket


def transport(s: Sample) -> str:
    return s.model_dump_json(exclude_unset=True)


def receive(line: str) -> Sample:
    return Sample.model_validate_json(line)


def pre_batch(lines: list[str], cfg: CurateConfig, rules) -> list[Sample]:
    """normalize -> redact (in a worker), for the sandbox run that follows in the main process."""
    return [redact_one(normalize_one(receive(x), cfg.normalize), rules) if rules else normalize_one(receive(x), cfg.normalize)
            for x in lines]


def post_batch(batch: list[Sample], cfg: CurateConfig) -> list[tuple[str, Side]]:
    """score -> gate -> the later stages' per-record inputs; returns (checkpoint line, side info)."""
    scored = score_batch(batch, cfg.score)
    out = []
    for s in scored:
        s = with_split(gate_one(s, cfg.gate, cfg.score), cfg.split, cfg.seed)
        live = s.quality.decision != "rejected"
        row = features(s, cfg.dedup) if live and cfg.dedup.enabled else b""
        reason = verdict(s, cfg.decontam) if live else None
        out.append((s.to_json(), (live, row, reason, bucket_of(s, cfg.balance.by))))
    return out


def phase_a_batch(lines: list[str], cfg: CurateConfig, rules) -> list[tuple[str, Side]]:
    """The whole non-executing phase A for records that are not verified (verify disabled)."""
    return post_batch([mark_unverified(s) for s in pre_batch(lines, cfg, rules)], cfg)


def phase_c_batch(lines: list[str], cfg: CurateConfig, keep_ratio: dict[str, float], formats: list[str],
                  config: dict) -> list[dict[str, Any]]:
    """balance verdict -> the bundle writer's rows for each record (see `export.bundle.prepare`).

    The lines are canonical `Sample.to_json` lines (phase B's checkpoint), so the record's JSON form is
    `json.loads(line)`: no `Sample` is built here, and the sample line written is byte-equal to `to_json`."""
    from codesft.export.bundle import parquet_tables, prepare_dict

    loads = json.loads
    out = [prepare_dict(keep_dict(loads(x), keep_ratio, cfg.balance, cfg.seed), formats, config) for x in lines]
    if out:
        out[-1]["parquet_tables"] = parquet_tables(out)  # Arrow conversion here, not in the writing process
    return out
