"""Shared reader machinery: every reader yields `Sample` or `ReadError`, never raises on bad data.

A reader turns one input artifact into records. Lines that cannot be parsed or mapped come back
as `ReadError` (file, line, reason, raw text) so the pipeline can put them in rejected.jsonl:
bad input never crashes a run and never disappears. How files are found and split into records:
`codesft.sources.inputs` and `codesft.sources.jsonio`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from codesft.curate.redact import excerpt
from codesft.sandbox.languages import sandbox_language
from codesft.schema import (ArtifactRef, Code, Message, Metadata, Provenance, Quality, Sample, Source,
                            SqlExpectation, content_hash, make_sample_id)
from codesft.sources.inputs import input_files
from codesft.sources.jsonio import BadRecord, iter_json_records


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


def text_or_lines(obj: dict[str, Any], key: str) -> str | None:
    """A code field given as a string or a list of strings (joined by newlines); anything else is an error,
    so `["assert f()", 5, null]` is rejected instead of becoming the test code `5\nNone`."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        bad = [f"item {i} is {type(v).__name__}" for i, v in enumerate(value) if not isinstance(v, str)]
        if not bad:
            return "\n".join(value)
        raise RecordError(f"field '{key}' must be a string or a list of strings ({', '.join(bad[:3])})")
    raise RecordError(f"field '{key}' must be a string or a list of strings, got {type(value).__name__}")


@dataclass(frozen=True)
class LanguageParts:
    """The code fields whose shape depends on the record's language (docs/sources.md, "Languages")."""
    setup: str | None
    tests: str | None
    context: str  # shown to the model with the problem (a sql record's schema), or ""


def language_parts(obj: dict[str, Any], language: str) -> LanguageParts:
    """`setup` and `tests` of a record, by its language:
    - sql: `schema` and `seed` (each a string or a list of statements) become `setup` (or `setup` as given), and
      `tests` -- an object (or its JSON text) {rows, order, columns?} -- is checked as a `SqlExpectation` and kept
      as its canonical JSON; the schema is shown with the problem;
    - javascript: `entry_point`, when given, must be an identifier (the harness calls check() with it);
    - every language: `tests` a string or a list of strings, `setup` a string."""
    runs_as = sandbox_language(language)
    if runs_as == "sql":
        return _sql_parts(obj)
    if runs_as == "javascript":
        entry = optional(obj, "entry_point")
        if entry is not None and not _JS_IDENTIFIER.match(entry):
            raise RecordError("field 'entry_point' must be a JavaScript identifier")
    return LanguageParts(optional(obj, "setup"), text_or_lines(obj, "tests") or None, "")


_JS_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _sql_parts(obj: dict[str, Any]) -> LanguageParts:
    schema = text_or_lines(obj, "schema") or ""
    seed = text_or_lines(obj, "seed") or ""
    setup = optional(obj, "setup")
    if setup is not None and (schema or seed):
        raise RecordError("give either 'setup' or 'schema'/'seed', not both")
    if setup is None:
        setup = "\n".join(part.strip() for part in (schema, seed) if part.strip()) or None
    raw = obj.get("tests")
    if raw is None:
        return LanguageParts(setup, None, schema.strip() or (setup or ""))
    try:
        expected = (SqlExpectation.model_validate_json(raw) if isinstance(raw, str)
                    else SqlExpectation.model_validate(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise RecordError(f"field 'tests' of a sql record must be {{rows, order, columns?}}: "
                          f"{where + ': ' if where else ''}{first.get('msg')}") from None
    return LanguageParts(setup, expected.to_tests(), schema.strip() or (setup or ""))


def record_id(obj: dict[str, Any], *keys: str) -> str | None:
    """The record's own id in its source (the first of `keys` present): a string or an integer."""
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise RecordError(f"field '{key}' must be a string or an integer, got {type(value).__name__}")
        return str(value)
    return None


@dataclass(frozen=True)
class Where:
    """Where a record was read: `file` as the user's spelling of the input reaches it (provenance,
    rejections), `line`, and `id_path`, the file relative to the named input, which sample ids use."""
    file: str
    line: int | None
    id_path: str


Mapper = Callable[[dict[str, Any], Where, str], Sample]


# The files a directory input reads, per reader module (`SUFFIXES` there, else this default).
JSON_SUFFIXES = (".jsonl", ".json")


def read_json_source(path: str | Path, mapper: Mapper,
                     suffixes: tuple[str, ...] = JSON_SUFFIXES) -> Iterator[Sample | ReadError]:
    """Run `mapper(obj, where, raw) -> Sample` over every record of the input; failures become ReadError."""
    if not Path(path).exists():
        yield ReadError(str(path), None, f"input not found: {path}")
        return
    for file, id_path in input_files(path, suffixes):
        yield from read_json_file(file, id_path, mapper)


def read_json_file(file: Path, id_path: str, mapper: Mapper) -> Iterator[Sample | ReadError]:
    fname = str(file)
    for lineno, raw, obj in iter_json_records(file):
        if isinstance(obj, BadRecord):
            yield ReadError(fname, lineno, obj.reason, excerpt(raw, 4000))
            continue
        if not isinstance(obj, dict):
            yield ReadError(fname, lineno, f"expected a JSON object, got {type(obj).__name__}", excerpt(raw, 4000))
            continue
        try:
            yield mapper(obj, Where(fname, lineno, id_path), raw)
        except (RecordError, ValidationError, ValueError, TypeError, KeyError) as exc:
            yield ReadError(fname, lineno, f"invalid record: {_short(exc)}", excerpt(raw, 4000))


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # pydantic echoes input values; keep only locations and messages so secrets in values stay out.
        return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


def build_sample(*, kind: str, at: Where, raw: str, messages: list[Message], record_id: str | None = None,
                 group_key: str | None = None, code: Code | None = None, tools: list[dict] | None = None,
                 metadata: dict[str, Any] | None = None, iterations: int = 1, license: str | None = None,
                 base_commit: str | None = None, patch_ref: str | None = None, generated_at: str | None = None,
                 artifact_kind: str = "line", location: str | None = None) -> Sample:
    """`location` (default `<id path>:<line>`) and `raw` determine the sample id."""
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    loc = location or f"{at.id_path}:{at.line}"
    sid = make_sample_id(kind, loc, raw)
    # None means "not stated": leaving it out keeps model_fields_set honest for language detection.
    meta = Metadata(**{k: v for k, v in (metadata or {}).items() if v is not None})
    return Sample(
        sample_id=sid,
        source=Source(kind=kind, group_key=group_key or f"{kind}:{sid}",
                      artifact_refs=[ArtifactRef(path=at.file, content_hash=digest, kind=artifact_kind)]),
        messages=messages, tools=tools, code=code, metadata=meta,
        quality=Quality(iterations=iterations),
        provenance=Provenance(content_hash=content_hash(raw), source_path=at.file, line=at.line,
                              record_id=record_id, license=license,
                              base_commit=base_commit, patch_ref=patch_ref, generated_at=generated_at),
    )


def fenced(code: str, language: str = "python") -> str:
    return f"```{language}\n{code.rstrip()}\n```"
