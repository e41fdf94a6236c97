"""Helpers for commands that derive a new version from a bundle (faults, sample, augment): walk its records in
batches, keep the slow work done so far in a work dir (`WorkLog`) so a killed run resumes, and stage the
derived records on disk so the counts are known before the version is written."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Iterable, Iterator, TypeVar

from codesft.config import ConfigError
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


class WorkLog(Generic[T]):
    """A work dir: the run's settings (run.json) and every item finished so far (`items_file`, JSON lines
    appended one batch at a time), so a killed run resumes without redoing any of them.

    One write per batch: a kill leaves a batch logged whole or (rarely) with a torn last line, which the reader
    drops, so a resumed run sends the same batches again. A run with other settings is refused (ConfigError)
    unless `resume` is False, which starts over."""

    def __init__(self, path: Path, settings: dict[str, Any], resume: bool, *, command: str, items_file: str,
                 parse: Callable[[dict[str, Any]], T], key: Callable[[T], str],
                 dump: Callable[[T], dict[str, Any]]) -> None:
        self.path, self._file, self._key, self._dump = path, path / items_file, key, dump
        if not resume and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        run = path / "run.json"
        if run.is_file():
            old = json.loads(run.read_text(encoding="utf-8"))
            if old != settings:
                diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise ConfigError(f"{path} holds a {command} run with other settings ({', '.join(diff)}); "
                                  "use --no-resume to start over")
        else:
            run.write_text(json.dumps(settings, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        self.items: dict[str, T] = {}
        if self._file.is_file():
            with self._file.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        item = parse(json.loads(line))
                    except (ValueError, TypeError):  # a line cut short by a kill: that item is redone
                        continue
                    self.items[key(item)] = item

    def add(self, items: list[T]) -> None:
        """Append a batch's items (each complete) and flush them to disk."""
        text = "".join(json.dumps(self._dump(i), sort_keys=True, ensure_ascii=False) + "\n" for i in items)
        with self._file.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
        self.items.update((self._key(i), i) for i in items)
