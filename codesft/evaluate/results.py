"""Result files: append-only JSONL while a run is in progress (crash-safe: each line is flushed and fsynced;
a torn last line is ignored on resume), atomic rewrite (temp + rename) for the final, sorted files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict


class SampleResult(BaseModel):
    """One line of results.jsonl: a sample's generation and its sandbox verdict.

    Numbers are kept as they were measured (`int | float`: a 0 stays 0), so the file is written byte for byte
    as before these records were typed; readers of old files get the same keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    sample_index: int
    key: str
    category: str
    prompt: str
    raw_output: str
    code: str
    sanitize: str
    reference: str | None
    status: str
    passed: bool
    reason: str | None
    suites: dict[str, Any]
    tests: list[Any]
    public_pass: bool | None
    gen_time_s: int | float
    exec_time_s: int | float
    n_tokens: int
    mean_logprob: int | float | None
    finish_reason: str | None
    generation_error: str | None
    # Why the sample failed (`passed` when it did not): one of codesft.evaluate.kinds.KINDS or HARNESS_KINDS.
    kind: str

    def ranking(self) -> dict[str, Any]:
        """What the n@k ranking reads (codesft.evaluate.metrics.n_at_k)."""
        return {"passed": self.passed, "mean_logprob": self.mean_logprob, "public_pass": self.public_pass}


def read_jsonl(path: Path, strict: bool = False) -> list[dict[str, Any]]:
    """The records of a JSONL file ([] when there is none). Not strict (the append-only resume files): a line
    that does not parse is skipped. strict (files written whole): such a line is a ValueError naming it."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    out = []
    # split on "\n" only: str.splitlines would also split inside a record at a raw U+2028 (ensure_ascii=False).
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if strict:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            continue  # a line torn by an interrupted write: that sample is simply redone
        if not isinstance(rec, dict):
            if strict:
                raise ValueError(f"{path}:{lineno}: not a JSON object")
            continue
        out.append(rec)
    return out


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that an interrupted write left without its newline; appending after it would glue the
    next record onto it and lose that record too."""
    if not path.is_file():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


class Appender:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._fh = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "Appender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_jsonl(path: Path, records: Iterable[dict[str, Any] | BaseModel]) -> None:
    rows = (r.model_dump() if isinstance(r, BaseModel) else r for r in records)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
