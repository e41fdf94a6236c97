"""instruct: public instruction sets.

- Alpaca: {"instruction", "input"?, "output"} as JSONL or a JSON array;
- messages JSONL: {"messages": [...]} (mapped as in `chats`, but the kind stays `instruct`);
- Parquet files whose rows have either shape (read in record batches, so memory stays flat).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from codesft.curate.redact import excerpt
from codesft.schema import Message, Sample
from codesft.sources.base import (ReadError, RecordError, Where, build_sample, optional, read_json_file, record_id,
                                  require, str_list, _short)
from codesft.sources.inputs import input_files
from codesft.sources.chats import _openai, _sharegpt

KIND = "instruct"


SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz")  # what a directory input reads


def map_record(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    if "messages" in obj or "conversations" in obj:
        messages = _openai(obj["messages"]) if "messages" in obj else _sharegpt(obj["conversations"])
        if any(m.tool_calls for m in messages):
            category = "tool_use"
        else:
            category = "instruction"
    else:
        instruction = require(obj, "instruction")
        inp = optional(obj, "input", default="")
        output = require(obj, "output")
        user = instruction if not inp.strip() else f"{instruction}\n\n{inp}"
        messages = [Message(role="user", content=user), Message(role="assistant", content=output)]
        category = "instruction"
    rid = record_id(obj, "id")
    group = optional(obj, "group") or rid
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{group}" if group else None,
        messages=messages,
        metadata={"category": optional(obj, "category", default=category),
                  "language": optional(obj, "language"),
                  "difficulty": optional(obj, "difficulty"), "tags": str_list(obj, "tags"),
                  "domain": optional(obj, "domain")},
        iterations=int(optional(obj, "iterations", (int,), default=1)),
        license=optional(obj, "license"),
    )


def _read_parquet(file: Path, id_path: str) -> Iterator[Sample | ReadError]:
    import pyarrow.parquet as pq

    fname = str(file)
    try:
        pf = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        yield ReadError(fname, None, f"unreadable Parquet file: {exc}")
        return
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for obj in batch.to_pylist():
            row += 1
            raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
            try:
                yield map_record(obj, Where(fname, row, id_path), raw)
            except (RecordError, ValueError, TypeError, KeyError) as exc:
                yield ReadError(fname, row, f"invalid record: {_short(exc)}", excerpt(raw, 4000))


def read(path: str | Path, **_: Any) -> Iterator[Sample | ReadError]:
    root = Path(path)
    if not root.exists():
        yield ReadError(str(path), None, f"input not found: {path}")
        return
    # A named file is read whatever its name; in a directory only these suffixes are.
    for file, id_path in input_files(root, SUFFIXES):
        if file.suffix == ".parquet":
            yield from _read_parquet(file, id_path)
        else:
            yield from read_json_file(file, id_path, map_record)
