"""The review database: an append-only SQLite table of decisions.

Every decision is a new row (never an update), so two reviewers writing at once cannot overwrite each
other, and a record decided twice keeps both decisions; the latest row (highest id) counts. WAL mode
lets readers work while a reviewer writes; `synchronous=FULL` makes a committed row survive a crash of
the process (and of the machine), and the API answers only after the commit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DB_SCHEMA_VERSION = "1"
DEFAULT_DB_NAME = "review.sqlite"
BUSY_TIMEOUT_S = 30.0  # a writer waits this long for another reviewer's transaction before failing

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bundle TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'edit')),
    reason TEXT,
    comment TEXT,
    rubric TEXT,
    edited_messages TEXT,
    edited_solution TEXT,
    verification TEXT,
    decided_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_record ON decisions (bundle, sample_id, id);
"""


class StoreError(RuntimeError):
    """The database cannot be opened or is not a review database."""


@dataclass
class StoredDecision:
    id: int
    bundle: str
    sample_id: str
    reviewer: str
    decision: str
    decided_at: str
    reason: str | None = None
    comment: str | None = None
    rubric: dict[str, int] | None = None
    edited_messages: list[dict[str, Any]] | None = None
    edited_solution: str | None = None
    verification: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NewDecision:
    bundle: str
    sample_id: str
    reviewer: str
    decision: str
    reason: str | None = None
    comment: str | None = None
    rubric: dict[str, int] | None = None
    edited_messages: list[dict[str, Any]] | None = None
    edited_solution: str | None = None
    verification: dict[str, Any] | None = field(default=None)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _row_to_decision(row: sqlite3.Row) -> StoredDecision:
    load = lambda v: None if v is None else json.loads(v)  # noqa: E731
    return StoredDecision(id=row["id"], bundle=row["bundle"], sample_id=row["sample_id"], reviewer=row["reviewer"],
                          decision=row["decision"], decided_at=row["decided_at"], reason=row["reason"],
                          comment=row["comment"], rubric=load(row["rubric"]),
                          edited_messages=load(row["edited_messages"]), edited_solution=row["edited_solution"],
                          verification=load(row["verification"]))


class ReviewStore:
    """Opens a short-lived connection per operation: the web server's worker threads share nothing."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"no review database at {self.path}")
        try:
            with closing(self._connect()) as con:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode})")
                with con:
                    con.executescript(_DDL)
                    con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                                (DB_SCHEMA_VERSION,))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable review database: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA synchronous=FULL")
        return con

    def add(self, d: NewDecision, now: datetime | None = None) -> StoredDecision:
        """Insert and commit one decision; returns it as stored (with its id and time)."""
        decided_at = (now or datetime.now(timezone.utc)).isoformat(timespec="microseconds")
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT INTO decisions (bundle, sample_id, reviewer, decision, reason, comment, rubric, "
                    "edited_messages, edited_solution, verification, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (d.bundle, d.sample_id, d.reviewer, d.decision, d.reason, d.comment, _json_or_none(d.rubric),
                     _json_or_none(d.edited_messages), d.edited_solution, _json_or_none(d.verification),
                     decided_at))
                row = con.execute("SELECT * FROM decisions WHERE id = ?", (cur.lastrowid,)).fetchone()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return _row_to_decision(row)

    def decisions(self, bundle: str | None = None, sample_id: str | None = None) -> list[StoredDecision]:
        """All decisions (optionally of one bundle / record), oldest first."""
        sql, args = "SELECT * FROM decisions", []
        where = []
        if bundle is not None:
            where.append("bundle = ?")
            args.append(bundle)
        if sample_id is not None:
            where.append("sample_id = ?")
            args.append(sample_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with closing(self._connect()) as con:
            return [_row_to_decision(r) for r in con.execute(sql + " ORDER BY id", args)]

    def bundles(self) -> list[str]:
        with closing(self._connect()) as con:
            return [r[0] for r in con.execute("SELECT DISTINCT bundle FROM decisions ORDER BY bundle")]


def latest(decisions: list[StoredDecision]) -> dict[str, StoredDecision]:
    """The decision that counts for each record: the latest one (highest id)."""
    out: dict[str, StoredDecision] = {}
    for d in decisions:
        if d.sample_id not in out or d.id > out[d.sample_id].id:
            out[d.sample_id] = d
    return out


def latest_per_reviewer(decisions: list[StoredDecision]) -> dict[str, dict[str, StoredDecision]]:
    """{sample_id: {reviewer: their latest decision}} (what inter-rater agreement compares)."""
    out: dict[str, dict[str, StoredDecision]] = {}
    for d in decisions:
        per = out.setdefault(d.sample_id, {})
        if d.reviewer not in per or d.id > per[d.reviewer].id:
            per[d.reviewer] = d
    return out


def content_sha256(decisions: list[StoredDecision]) -> str:
    """sha256 of the decisions as canonical JSON lines, ordered by id. Unlike the file's bytes it does not
    depend on SQLite's page layout or on how much of the WAL has been checkpointed."""
    h = hashlib.sha256()
    for d in sorted(decisions, key=lambda x: x.id):
        h.update(json.dumps(d.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()

