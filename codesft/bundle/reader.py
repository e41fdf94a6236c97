"""Reading a bundle: `load_bundle(path)` -> `Bundle`, a version directory with its manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from codesft.bundle.manifest import Manifest, parse_manifest
from codesft.schema import Sample


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonl(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line


@dataclass
class Bundle:
    """A bundle version directory. `manifest` is manifest.json as read; `meta` is the same, typed (checked
    on first use, so a reader that needs only the files is not stopped by an incomplete manifest)."""

    path: Path
    manifest: dict[str, Any]

    @cached_property
    def meta(self) -> Manifest:
        """The manifest, typed; ManifestError when it is not a bundle manifest."""
        return parse_manifest(self.manifest, str(self.path / "manifest.json"))

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def parent_version(self) -> str | None:
        return self.meta.parent_version

    @property
    def key(self) -> str:
        """`name@version`, the label records carry in `provenance.lineage` for versions derived from this one."""
        return f"{self.name}@{self.version}"

    def samples(self) -> Iterator[Sample]:
        return (Sample.from_json(line) for line in _jsonl(self.path / "samples.jsonl"))

    def records(self) -> Iterator[dict[str, Any]]:
        """samples.jsonl as parsed JSON (the records' JSON form, no validation): for rewriting a version
        whose untouched records must keep their bytes."""
        return (json.loads(line) for line in _jsonl(self.path / "samples.jsonl"))

    def split(self, name: str) -> Iterator[Sample]:
        return (s for s in self.samples() if s.split is not None and s.split.assignment == name)

    def rejected(self) -> Iterator[dict[str, Any]]:
        return (json.loads(line) for line in _jsonl(self.path / "rejected.jsonl"))

    def config(self) -> dict[str, Any]:
        return self.manifest.get("config", {})

    def summary(self) -> dict[str, Any]:
        """summary.json ({} when absent)."""
        path = self.path / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def check(self) -> list[str]:
        """Files whose sha256 no longer matches the manifest (empty when intact)."""
        return [rel for rel, digest in self.manifest["files"].items()
                if not (self.path / rel).is_file() or sha256_file(self.path / rel) != digest]


def _version_key(version: str) -> tuple:
    """PEP 440 order (1.10.0 > 1.9.0, 1.0.0+faults > 1.0.0); unparsable names sort first, by text."""
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version), "")
    except InvalidVersion:
        return (0, Version("0"), version)


def load_bundle(path: str | Path) -> Bundle:
    """The bundle at `path`: a version dir, or a name dir (its highest version). FileNotFoundError when there
    is none; ValueError (json.JSONDecodeError) when manifest.json is not JSON."""
    p = Path(path)
    if not (p / "manifest.json").is_file():
        versions = sorted(p.glob("v*/manifest.json"), key=lambda m: _version_key(m.parent.name[1:]))
        if not versions:
            raise FileNotFoundError(f"no bundle at {p} (expected manifest.json)")
        p = versions[-1].parent  # a bundle name dir: its highest version
    return Bundle(path=p, manifest=json.loads((p / "manifest.json").read_text(encoding="utf-8")))
