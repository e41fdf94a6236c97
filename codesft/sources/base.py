"""Shared reader machinery: every reader yields `Sample` or `ReadError`, never raises on bad data.

A reader turns one input artifact into records. Lines that cannot be parsed or mapped come back
as `ReadError` (file, line, reason, raw text) so the pipeline can put them in rejected.jsonl:
bad input never crashes a run and never disappears.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from codesft.schema import (ArtifactRef, Code, Message, Metadata, Provenance, Quality, Sample, Source,
                            content_hash, make_sample_id)


@dataclass(frozen=True)
class ReadError:
    file: str
    line: int | None
    reason: str
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason, "reasons": [self.reason],
                "stage": "read", "raw": self.raw}


class RecordError(ValueError):
    """A record that is valid JSON but cannot be mapped; the message names the field."""


def require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in obj or obj[key] is None:
        raise RecordError(f"missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RecordError(f"field '{key}' must be {names}, got {type(value).__name__}")
    return value


def optional(obj: dict[str, Any], key: str, kind: type | tuple[type, ...] = str, default: Any = None) -> Any:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RecordError(f"field '{key}' must be {names}, got {type(value).__name__}")
    return value


def str_list(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RecordError(f"field '{key}' must be a string or a list of strings")


def iter_json_records(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw text, parsed object or exception) for a JSONL file, or for a JSON array file
    (then the 'line' is the 1-based index of the element)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        head = fh.read(4096)
        fh.seek(0)
        if head.lstrip().startswith("["):
            text = fh.read()
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                yield 1, text[:2000], exc
                return
            for i, item in enumerate(items, 1):
                yield i, json.dumps(item, ensure_ascii=False, sort_keys=True), item
            return
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            raw = line.rstrip("\r\n")
            try:
                yield lineno, raw, json.loads(raw)
            except json.JSONDecodeError as exc:
                yield lineno, raw, exc


def iter_input_files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    return [path]


def read_json_source(path: str | Path, mapper, suffixes: tuple[str, ...] = (".jsonl", ".json")) -> Iterator[Sample | ReadError]:
    """Run `mapper(obj, file, line, raw) -> Sample` over every record; failures become ReadError."""
    root = Path(path)
    if not root.exists():
        yield ReadError(str(path), None, f"input not found: {path}")
        return
    for file in iter_input_files(root, suffixes):
        fname = str(file)
        for lineno, raw, obj in iter_json_records(file):
            if isinstance(obj, Exception):
                yield ReadError(fname, lineno, f"invalid JSON: {obj}", raw[:4000])
                continue
            if not isinstance(obj, dict):
                yield ReadError(fname, lineno, f"expected a JSON object, got {type(obj).__name__}", raw[:4000])
                continue
            try:
                yield mapper(obj, fname, lineno, raw)
            except (RecordError, ValidationError, ValueError, TypeError, KeyError) as exc:
                yield ReadError(fname, lineno, f"invalid record: {_short(exc)}", raw[:4000])


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # pydantic echoes input values; keep only locations and messages so secrets in values stay out.
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


def build_sample(*, kind: str, file: str, line: int | None, raw: str, messages: list[Message],
                 group_key: str | None = None, code: Code | None = None, tools: list[dict] | None = None,
                 metadata: dict[str, Any] | None = None, iterations: int = 1, license: str | None = None,
                 base_commit: str | None = None, patch_ref: str | None = None, generated_at: str | None = None,
                 artifact_kind: str = "line", location: str | None = None) -> Sample:
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    loc = location or f"{file}:{line}"
    sid = make_sample_id(kind, loc, raw)
    # None means "not stated": leaving it out keeps model_fields_set honest for language detection.
    meta = Metadata(**{k: v for k, v in (metadata or {}).items() if v is not None})
    return Sample(
        sample_id=sid,
        source=Source(kind=kind, group_key=group_key or f"{kind}:{sid}",
                      artifact_refs=[ArtifactRef(path=file, content_hash=digest, kind=artifact_kind)]),
        messages=messages, tools=tools, code=code, metadata=meta,
        quality=Quality(iterations=iterations),
        provenance=Provenance(content_hash=content_hash(raw), source_path=file, line=line, license=license,
                              base_commit=base_commit, patch_ref=patch_ref, generated_at=generated_at),
    )


def fenced(code: str, language: str = "python") -> str:
    return f"```{language}\n{code.rstrip()}\n```"
