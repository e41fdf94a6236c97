"""One record -> the lines the bundle writer writes for it (pure: runs in executor workers).

A kept record becomes its samples.jsonl line, a row for each export format it fits (export splits only)
and its counts; a rejected record becomes its rejected.jsonl entry. Records reach here finished: kept
ones carry their split, and rejected entries are already redacted by whoever rejected them.
"""

from __future__ import annotations

import json
from typing import Any

from codesft.bundle.reasons import primary_reason
from codesft.bundle.stats import Stats
from codesft.export.formats import JSONL_FORMATS, parquet_row_dict, rows_and_compatibility
from codesft.schema import Sample

EXPORT_SPLITS = ("train", "validation", "test")  # holdout stays in samples.jsonl only
ALL_FORMATS = [*JSONL_FORMATS, "parquet"]


def dumps(obj: Any) -> str:
    """The canonical JSON line of every bundle file (equal to `Sample.to_json` for a record)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def rejected_entry(s: Sample | dict[str, Any]) -> dict[str, Any]:
    """The rejected.jsonl entry of a record (a Sample or its JSON form, `Sample.model_dump(mode="json")`)."""
    d = s.model_dump(mode="json") if isinstance(s, Sample) else s
    return {"file": d["provenance"]["source_path"], "line": d["provenance"]["line"],
            "reason": primary_reason(d["quality"]["reasons"]), "reasons": list(d["quality"]["reasons"]),
            "stage": d["source"]["stage"], "sample_id": d["sample_id"], "record": d}


def prepare(s: Sample, formats: list[str], config: dict) -> dict[str, Any]:
    """Everything the writer needs from one record, as strings and small dicts.

    Rejected: {"rejected": line, "stat": slim entry}. Kept: {"sample": line, "split", "rows": {format:
    line}, "parquet": row or None, "stat": Stats.sample_info}. `config` is unused (kept for old callers)."""
    return prepare_dict(s.model_dump(mode="json"), formats, config)


def prepare_rejected(entry: dict[str, Any]) -> dict[str, Any]:
    """`prepare` for a rejected.jsonl entry, written as given (redacting it is the caller's job)."""
    return {"rejected": dumps(entry), "stat": Stats.rejected_info(entry)}


def prepare_dict(d: dict[str, Any], formats: list[str], config: dict | None = None) -> dict[str, Any]:
    """`prepare` for a record in its JSON form (`Sample.model_dump(mode="json")`, e.g. `json.loads` of a
    canonical `Sample.to_json` line), which it may modify. The sample line is `dumps(d)`, byte-equal to
    `Sample.to_json` of the same record. A kept record without a split is a caller's bug (ValueError):
    which split a record belongs to is decided before the writer, never by it."""
    if d["quality"]["decision"] == "rejected":
        return prepare_rejected(rejected_entry(d))
    if d.get("split") is None:
        raise ValueError(f"record {d.get('sample_id')!r} reached the bundle writer without a split; "
                         "assign its split before writing")
    rows, d["export_compatibility"] = rows_and_compatibility(d, formats)
    line = dumps(d)
    sp = d["split"]["assignment"]
    rows = {fmt: dumps(row) for fmt, row in rows.items()} if sp in EXPORT_SPLITS else {}
    parquet = parquet_row_dict(d, line) if "parquet" in formats and sp in EXPORT_SPLITS else None
    exported = list(rows) + (["parquet"] if parquet is not None else [])
    return {"sample": line, "split": sp, "rows": rows, "parquet": parquet, "stat": Stats.sample_info_dict(d, exported)}
