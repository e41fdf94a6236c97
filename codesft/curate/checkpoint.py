"""What makes a curate run restartable: the work dir's state (which passes are done, under which
fingerprint of config and inputs), atomic JSONL files, the sandbox verdict cache, and progress meters."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from codesft.curate.config import CurateConfig
from codesft.sources import parse_input
from codesft.sources.inputs import walk_files

Progress = Callable[[str], None]


class Meter:
    """Counts records through a stream and reports the rate every `every` seconds."""

    def __init__(self, label: str, progress: Progress, every: float = 2.0):
        self.label, self.progress, self.every = label, progress, every
        self.n, self.t0, self.last = 0, time.monotonic(), time.monotonic()

    def wrap(self, items: Iterable[Any]) -> Iterator[Any]:
        for x in items:
            self.n += 1
            now = time.monotonic()
            if now - self.last >= self.every:
                self.last = now
                self.progress(f"  {self.label}: {self.n:,} records ({self.n / (now - self.t0):,.0f}/s)")
            yield x

    def done(self) -> float:
        dt = time.monotonic() - self.t0
        self.progress(f"  {self.label}: {self.n:,} records in {dt:.1f}s ({self.n / dt if dt else 0:,.0f}/s)")
        return dt


def atomic_jsonl(path: Path, lines: Iterable[str]) -> int:
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path: Path, raw: bool = False) -> Iterator[Any]:
    """The values of a JSONL file, or its lines without the newline (`raw`)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield line.rstrip("\n") if raw else json.loads(line)


def _input_fingerprint(spec: str) -> str:
    kind, path = parse_input(spec)
    p = Path(path)
    h = hashlib.sha256(spec.encode())
    if kind == "git" and p.is_dir():
        proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(p), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False)
        h.update(proc.stdout.encode())
        return h.hexdigest()
    files = walk_files(p) if p.exists() else []  # the files the readers may read: no tool output
    for f in files:
        h.update(str(f).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def fingerprint(cfg: CurateConfig) -> str:
    h = hashlib.sha256(json.dumps(cfg.pipeline_dict(), sort_keys=True).encode())
    for spec in cfg.inputs:
        h.update(_input_fingerprint(spec).encode())
    return h.hexdigest()


class State:
    """state.json of a work dir: the fingerprint it belongs to and the results of the finished passes. A
    work dir of another fingerprint (other config or inputs) is emptied."""

    def __init__(self, work: Path, fp: str):
        self.path = work / "state.json"
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        if data.get("fingerprint") != fp:
            shutil.rmtree(work, ignore_errors=True)
            data = {"fingerprint": fp, "done": {}}
        work.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, Any] = data["done"]
        self.fp = fp
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fingerprint": self.fp, "done": self.done}, sort_keys=True))
        os.replace(tmp, self.path)

    def record(self, name: str, result: Any) -> Any:
        self.done[name] = result
        self.save()
        return result


class VerifyCache(dict):
    """Sandbox verdicts persisted as JSONL, appended after every batch; a torn last line is ignored."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.saved: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    key, verdict = json.loads(line)
                except (json.JSONDecodeError, ValueError):
                    continue
                self[key] = verdict
                self.saved.add(key)

    def persist(self) -> None:
        new = [k for k in self if k not in self.saved]
        if new:
            with self.path.open("a", encoding="utf-8") as fh:
                for k in new:
                    fh.write(json.dumps([k, self[k]], sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.saved.update(new)
