"""Records of one JSON input file: a JSON array or JSONL, plain or gzip, read as bytes.

The array-or-JSONL decision is made on the file's whole content, never on its first line: a file that
parses as one JSON array is an array; anything else is JSONL, read line by line, where a line that is
not a JSON object is one rejection and the other lines are kept. Every record and every rejection
carries the physical 1-based line it starts on (for an array element: the line of its first character).

Bytes are decoded strictly: a UTF-8 byte-order mark at the start is dropped; a line (or array element)
with bytes that are not UTF-8, or with a JSON `\\uD8xx` escape that leaves a lone surrogate, is rejected
with its line and byte offset instead of being silently replaced. A `.gz` file that is truncated or not
gzip keeps the lines read before the damage and adds one rejection at the line where it hit.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

BOM = b"\xef\xbb\xbf"
_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a JSON escape that can decode to a lone surrogate
_SURROGATE = re.compile("[\ud800-\udfff]")
# What a damaged gzip stream raises while it is read: not gzip, a bad CRC / length, cut short.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@dataclass(frozen=True)
class BadRecord:
    """A line (or array element) that is not a record; `reason` says why, `raw` is its text, made printable."""
    reason: str
    raw: str = ""


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def iter_json_records(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(line, raw text, parsed object or `BadRecord`) for every record of a JSONL or JSON array file."""
    line = 0
    try:
        with _open(path) as fh:
            lines: IO[bytes] = fh
            if _starts_with_bracket(fh):
                fh.seek(0)
                data = fh.read()
                elements = _array_elements(data)
                if elements is not None:
                    yield from elements
                    return
                lines = io.BytesIO(data)  # not one array: JSONL after all, from the bytes already read
            else:
                fh.seek(0)
            offset = 0
            for line, chunk in enumerate(lines, 1):
                start = offset
                offset += len(chunk)
                if line == 1 and chunk.startswith(BOM):
                    chunk, start = chunk[len(BOM):], start + len(BOM)
                record = _jsonl_line(chunk, start)
                if record is not None:
                    yield (line, *record)
    except GZIP_ERRORS as exc:
        yield line + 1, "", BadRecord(_gzip_damage(exc, line))


def _gzip_damage(exc: Exception, lines_read: int) -> str:
    detail = str(exc) or type(exc).__name__
    if lines_read == 0 and isinstance(exc, gzip.BadGzipFile):
        return "not a gzip file (no gzip header)"  # its message would echo the file's first bytes
    return (f"damaged gzip file (truncated or corrupt): {detail}; the {lines_read} line(s) before the damage "
            "are kept, anything after it is lost")


def _starts_with_bracket(fh: IO[bytes]) -> bool:
    """Whether the first byte that is not a BOM or whitespace is '['; leaves the stream where it stopped.
    Small reads, and a damaged gzip stream answers False: the JSONL pass then keeps the lines before the damage."""
    first = True
    try:
        while chunk := fh.read(256):
            if first and chunk.startswith(BOM):
                chunk = chunk[len(BOM):]
            first = False
            chunk = chunk.lstrip()
            if chunk:
                return chunk.startswith(b"[")
    except GZIP_ERRORS:
        return False
    return False


def _jsonl_line(chunk: bytes, byte_offset: int) -> tuple[str, Any] | None:
    """(raw, object or BadRecord) of one JSONL line; None for a blank line."""
    body = chunk.rstrip(b"\r\n")
    if not body.strip():
        return None
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _printable(body), BadRecord(f"invalid UTF-8 at byte {byte_offset + exc.start} of the file "
                                           f"(byte {exc.start} of the line)")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return raw, BadRecord(f"invalid JSON: {exc}")
    return raw, _check_surrogates(raw, obj)


def _array_elements(data: bytes) -> list[tuple[int, str, Any]] | None:
    """The elements of `data` when it is one JSON array (else None), each with its start line.

    Decoded with surrogateescape so that bytes that are not UTF-8 do not stop the whole array from
    parsing: the element that holds them is rejected, the others are kept."""
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    spans = _scan_array(text)
    if spans is None:
        return None
    out = []
    line, pos = 1, 0
    bom = len(BOM) if data.startswith(BOM) else 0
    for start, end, obj in spans:
        line += text.count("\n", pos, start)
        pos = start
        piece = text[start:end]
        bad = _SURROGATE.search(piece)  # in the source text, only surrogateescape makes these: a byte not UTF-8
        if bad:
            offset = bom + len(text[:start + bad.start()].encode("utf-8", "surrogateescape"))
            out.append((line, _printable(piece.encode("utf-8", "surrogateescape")),
                        BadRecord(f"invalid UTF-8 at byte {offset} of the file")))
            continue
        checked = _check_surrogates(piece, obj)
        # A kept element's raw text is its canonical JSON; a rejected one keeps its source text (printable).
        raw = piece if isinstance(checked, BadRecord) else json.dumps(obj, ensure_ascii=False, sort_keys=True)
        out.append((line, raw, checked))
    return out


def _scan_array(text: str) -> list[tuple[int, int, Any]] | None:
    """(start, end, value) of each element when `text` is exactly one JSON array, else None.
    `json` parses each element; this only walks the commas so that every element keeps its position."""
    decoder = json.JSONDecoder()
    i = _WS.match(text).end()
    if not text.startswith("[", i):
        return None
    i = _WS.match(text, i + 1).end()
    spans: list[tuple[int, int, Any]] = []
    try:
        if not text.startswith("]", i):
            while True:
                obj, end = decoder.raw_decode(text, i)
                spans.append((i, end, obj))
                i = _WS.match(text, end).end()
                if not text.startswith(",", i):
                    break
                i = _WS.match(text, i + 1).end()
        if not text.startswith("]", i) or text[i + 1:].strip(" \t\n\r"):
            return None
    except json.JSONDecodeError:
        return None
    return spans


def _check_surrogates(raw: str, obj: Any) -> Any:
    """`obj`, or a BadRecord when a `\\uD8xx` escape left a lone surrogate in it (not encodable as UTF-8)."""
    if not _SURROGATE_ESCAPE.search(raw) or not _has_surrogate(obj):
        return obj
    return BadRecord("invalid JSON string: a \\u escape leaves a lone UTF-16 surrogate (not encodable as UTF-8)")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _printable(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")
