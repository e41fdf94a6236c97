"""The SQL harness: what runs inside the sandboxed child for a `language="sql"` program.

It runs in the same forked, isolated child as a Python program (same namespaces, private root, rlimits,
cgroup, wall-clock kill, nonce-tagged verdict channel); only the work differs. A SQL program cannot run code
of its own, so it cannot reach this harness: the verdict is this module's comparison of rows.

- `setup` (the schema and seed rows) runs as one script on a fresh in-memory database (Python's `sqlite3`);
- `code` is split into statements (`sqlite3.complete_statement` decides where one ends, so a `;` inside a
  string, a comment or a trigger body does not split it); the rows of the last statement that returns rows are
  the result;
- `test`, a `codesft.schema.SqlExpectation` as JSON, says which rows must come back and whether their order
  counts. Without a test the program passes when every statement runs.

ATTACH is switched off (`SQLITE_LIMIT_ATTACHED` = 0) and extensions cannot be loaded (Python's default), so a
query sees only its own in-memory database; the sandbox's private root bounds everything else.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter

from pydantic import ValidationError

from codesft.sandbox.harness import _Channel, _describe, _flush, _fresh_stdio
from codesft.schema import SqlExpectation

try:  # the worker imports it before its root is private; a Python built without it cannot run SQL
    import sqlite3
except ImportError:  # pragma: no cover - depends on how Python was built
    sqlite3 = None  # type: ignore[assignment]

_Row = tuple


def split_statements(script: str) -> list[str]:
    """The statements of a script, each with its `;`. A last statement may lack its `;`."""
    out: list[str] = []
    start = 0
    end = script.find(";")
    while end != -1:
        chunk = script[start:end + 1]
        if sqlite3.complete_statement(chunk):
            out.append(chunk)
            start = end + 1
        end = script.find(";", end + 1)
    if script[start:].strip():
        out.append(script[start:])
    return out


def run_query(con, script: str) -> tuple[list[str] | None, list[tuple]]:
    """(column names, rows) of the last statement that returned rows; (None, []) when none did."""
    columns: list[str] | None = None
    rows: list[tuple] = []
    for statement in split_statements(script):
        cursor = con.execute(statement)
        if cursor.description is not None:
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
    return columns, rows


def _canon(value: object) -> tuple:
    """A comparable, hashable form: numbers by value (integral floats as integers, others to 9 places)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return (0, value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 2 ** 53:
            return (0, int(value))
        return (0, round(value, 9) if math.isfinite(value) else value)
    if isinstance(value, str):
        return (1, value)
    if value is None:
        return (2, 0)
    return (3, bytes(value))  # a blob: equal only to the same blob (an expectation cannot state one)


def _canon_rows(rows) -> list[_Row]:
    return [tuple(_canon(v) for v in row) for row in rows]


def _show(row) -> str:
    return json.dumps(list(row), ensure_ascii=False, default=lambda b: f"x'{bytes(b).hex()}'")


def compare_rows(expected: SqlExpectation, columns: list[str] | None, rows: list[tuple]) -> str | None:
    """Why the result does not meet the expectation, or None when it does."""
    if columns is None:
        return "no statement returned rows (the last statement of the query must be a SELECT, VALUES or RETURNING)"
    if expected.columns is not None and list(columns) != expected.columns:
        return f"columns differ: expected {_show(expected.columns)}, got {_show(columns)}"
    want, got = _canon_rows(expected.rows), _canon_rows(rows)
    same_bag = Counter(want) == Counter(got)
    if expected.order == "ordered":
        if want == got:
            return None
        if same_bag:
            return "the right rows in the wrong order (the test requires this order)"
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                return (f"row {i} differs: expected {_show(expected.rows[i])}, got {_show(rows[i])}"
                        f" ({len(expected.rows)} rows expected, {len(rows)} returned)")
        return f"expected {len(expected.rows)} rows, got {len(rows)}"
    if same_bag:
        return None
    missing = list((Counter(want) - Counter(got)).elements())
    extra = list((Counter(got) - Counter(want)).elements())
    first_missing = next((expected.rows[i] for i, r in enumerate(want) if r in missing), None)
    first_extra = next((rows[i] for i, r in enumerate(got) if r in extra), None)
    parts = [f"expected {len(expected.rows)} rows, got {len(rows)} (order ignored)"]
    if first_missing is not None:
        parts.append(f"{len(missing)} missing, e.g. {_show(first_missing)}")
    if first_extra is not None:
        parts.append(f"{len(extra)} unexpected, e.g. {_show(first_extra)}")
    return "; ".join(parts)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (sqlite3 is not None and isinstance(exc, sqlite3.Error)
                                            and "out of memory" in str(exc))


# size: like harness.execute, one frame runs the stages in order and owns the exits
def execute(program: dict, nonce: str, channel_fd: int) -> None:
    """Run one SQL program in this (already sandboxed) process and exit. Never returns."""
    chan = _Channel(channel_fd, nonce)
    _fresh_stdio()
    if sqlite3 is None:
        chan.emit("setup_error", -1, "Python's sqlite3 module is not available to the sandbox")
        os._exit(121)
    stage = "test"
    try:
        expected = None
        if program.get("test"):
            try:
                expected = SqlExpectation.model_validate_json(program["test"])
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first.get("loc", ())) or "document"
                raise ValueError(f"not a SQL expectation ({where}: {first.get('msg')})") from None
        con = sqlite3.connect(":memory:", isolation_level=None)
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        if program.get("setup"):
            stage = "setup"
            con.executescript(program["setup"])
        stage = "code"
        columns, rows = run_query(con, program["code"])
        if columns is not None:
            print(json.dumps({"columns": columns, "rows": [list(r) for r in rows]}, ensure_ascii=False,
                             default=lambda b: f"x'{bytes(b).hex()}'"))
        if expected is not None:
            stage = "test"
            why = compare_rows(expected, columns, rows)
            if why is not None:
                raise AssertionError(why)
    except BaseException as exc:  # noqa: BLE001 - every failure of the program is a verdict
        _flush()
        if _is_out_of_memory(exc):
            chan.emit("memory", -1, f"{stage}: {_describe(exc)}")
        else:
            chan.emit("fail", -1, f"{stage}: {_describe(exc)}")
        os._exit(1)
    _flush()
    chan.emit("done")
    os._exit(0)
