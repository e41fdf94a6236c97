"""Helpers for commands that derive a new version from a bundle (faults, sample): walk its records in
batches, and stage the derived records on disk so the counts are known before the version is written."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from codesft.schema import Sample

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter); itertools.batched arrives in 3.12."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def staged(records: Iterable[Sample], path: Path) -> Iterator[Sample]:
    """Write the records to `path` (constant memory), then read them back lazily."""
    with path.open("w", encoding="utf-8") as fh:
        for s in records:
            fh.write(s.to_json() + "\n")

    def read() -> Iterator[Sample]:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                yield Sample.from_json(line)

    return read()
