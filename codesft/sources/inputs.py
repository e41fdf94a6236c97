"""Which files an input names, and the checks that stop a run before it reads anything.

- A file input is that file. A directory input is every matching file below it, sorted, except the
  tool's own output: a directory named `.work-v*`, `.tmp-v*` or `.old-v*` (a curate run's checkpoints and
  temp dirs) or one that holds a bundle (`manifest.json` beside `samples.jsonl`) is skipped with all it
  holds, so `--out` inside an input directory never feeds a run its own checkpoints or earlier bundles.
- Sample ids depend on a file's path relative to the input as the user named it (the file's name for
  a file input), never on how that path was spelled: `data`, `./data` and `/abs/data` give the same ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

TOOL_OUTPUT_PREFIXES = (".work-v", ".tmp-v", ".old-v")


class InputError(ValueError):
    """An input the run cannot use at all (missing path, not a repository root): the command stops (exit 2)."""


def is_tool_output(directory: Path) -> bool:
    """A curate work/temp dir, or a bundle directory."""
    return directory.name.startswith(TOOL_OUTPUT_PREFIXES) or (
        (directory / "manifest.json").is_file() and (directory / "samples.jsonl").is_file())


def walk_files(root: Path) -> list[Path]:
    """`root` itself when it is a file; else the files below it, sorted, tool output left out."""
    if not root.is_dir():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not is_tool_output(here / d)]  # prunes the walk in place
        found.extend(here / f for f in filenames if (here / f).is_file())
    return sorted(found)


def input_files(path: str | Path, suffixes: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(file, id path) for each file of the input: the id path is the file relative to the input
    (its name when the input is a file), so ids do not depend on the spelling of `path`."""
    root = Path(path)
    if not root.is_dir():
        return [(root, root.resolve().name)]
    return [(f, f.relative_to(root).as_posix()) for f in walk_files(root) if f.name.endswith(suffixes)]


def check_inputs(specs: Iterable[str], allow_missing: bool = False) -> None:
    """Raise InputError for the first input that cannot be read at all; the run then stops before any work."""
    from codesft.sources import parse_input
    from codesft.sources.git import repo_root_problem

    for spec in specs:
        kind, path = parse_input(spec)
        p = Path(path)
        if not p.exists():
            if allow_missing:
                continue  # the reader records it as one rejection ("input not found")
            raise InputError(f"input not found: {path} (--input {spec}); pass --allow-missing to record "
                             "missing inputs as rejections and go on")
        if p.is_file() and not os.access(p, os.R_OK):
            raise InputError(f"input not readable (permission denied): {path} (--input {spec})")
        if kind == "git" and p.is_dir() and (problem := repo_root_problem(p)):
            raise InputError(f"--input {spec}: {problem}")
        if kind != "git" and p.is_dir() and not allow_missing:
            suffixes = reader_suffixes(kind)
            if not input_files(p, suffixes):
                # An empty directory would otherwise give 0 records, exit 0 and an empty bundle.
                raise InputError(f"--input {spec}: no {'/'.join(suffixes)} file in that directory (tool output "
                                 "left out); pass --allow-missing to go on without it")


def reader_suffixes(kind: str) -> tuple[str, ...]:
    """The file suffixes a directory input of this kind reads."""
    import importlib

    from codesft.sources import KINDS
    from codesft.sources.base import JSON_SUFFIXES

    return getattr(importlib.import_module(KINDS[kind]), "SUFFIXES", JSON_SUFFIXES)
