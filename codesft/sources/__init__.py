"""Readers, one per asset kind. `read_source("KIND:PATH")` yields `Sample` or `ReadError` records."""

from __future__ import annotations

import importlib
from typing import Any, Iterator

from codesft.sources.base import ReadError
from codesft.sources.inputs import InputError, check_inputs

# CLI kind -> module; the module's read(path, **options) is the reader.
KINDS = {
    "eval_questions": "codesft.sources.eval_questions",
    "code_reviews": "codesft.sources.code_reviews",
    "chats": "codesft.sources.chats",
    "git": "codesft.sources.git",
    "instruct": "codesft.sources.instruct",
}


def parse_input(spec: str) -> tuple[str, str]:
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise ValueError(f"--input must be KIND:PATH with KIND one of {', '.join(KINDS)}; got '{spec}'")
    return kind, path


def read_source(spec: str, options: dict[str, Any] | None = None) -> Iterator[Any]:
    kind, path = parse_input(spec)
    module = importlib.import_module(KINDS[kind])
    yield from module.read(path, **((options or {}).get(kind) or {}))


__all__ = ["KINDS", "InputError", "ReadError", "check_inputs", "parse_input", "read_source"]
