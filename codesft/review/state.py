"""The review server's state: the bundle's queue index, record access, decisions and progress."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesft.bundle import Bundle
from codesft.review.apply import open_bundle
from codesft.review.queue import QueueEntry, build_queue, flags_of, matches
from codesft.review.store import DEFAULT_DB_NAME, ReviewStore, StoredDecision, latest
from codesft.schema import Sample

FILTER_KEYS = ("flag", "source", "category", "split", "status")


def _min_score(config: dict[str, Any]) -> float | None:
    value = (config.get("gate") or {}).get("min_score")
    return float(value) if value is not None else None


def index_records(bundle: Bundle) -> list[QueueEntry]:
    """One small entry per record (id, strata, flags, byte offset); records are read on demand."""
    floor = _min_score(bundle.config())
    entries = []
    with bundle.path.joinpath("samples.jsonl").open("rb") as fh:
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                break
            if not line.strip():
                continue
            s = Sample.from_json(line)
            entries.append(QueueEntry(sample_id=s.sample_id, offset=offset, source=s.source.kind,
                                      category=s.metadata.category,
                                      split=s.split.assignment if s.split else "none", flags=flags_of(s, floor)))
    return entries


@dataclass
class ReviewState:
    bundle: Bundle
    store: ReviewStore
    queue: list[QueueEntry]
    records_total: int
    share: float
    seed: int
    default_reviewer: str | None = None

    @classmethod
    def load(cls, bundle_dir: str | Path, db_path: str | Path | None, share: float, seed: int,
             reviewer: str | None = None) -> "ReviewState":
        bundle = open_bundle(bundle_dir)
        entries = index_records(bundle)
        queue = build_queue(entries, share, seed)
        store = ReviewStore(db_path if db_path is not None else bundle.path.parent / DEFAULT_DB_NAME)
        return cls(bundle=bundle, store=store, queue=queue, records_total=len(entries), share=share, seed=seed,
                   default_reviewer=reviewer)

    def __post_init__(self) -> None:
        self.by_id = {e.sample_id: e for e in self.queue}

    def record(self, sample_id: str) -> Sample | None:
        e = self.by_id.get(sample_id)
        if e is None:
            return None
        with self.bundle.path.joinpath("samples.jsonl").open("rb") as fh:
            fh.seek(e.offset)
            return Sample.from_json(fh.readline())

    def decisions(self, sample_id: str | None = None) -> list[StoredDecision]:
        return self.store.decisions(bundle=self.bundle.key, sample_id=sample_id)

    def statuses(self, decisions: list[StoredDecision] | None = None) -> dict[str, str]:
        counted = latest(decisions if decisions is not None else self.decisions())
        return {e.sample_id: counted[e.sample_id].decision if e.sample_id in counted else "unreviewed"
                for e in self.queue}

    def filtered(self, filters: dict[str, str | None]) -> tuple[list[QueueEntry], dict[str, str], list[StoredDecision]]:
        decisions = self.decisions()
        status = self.statuses(decisions)
        return [e for e in self.queue if matches(e, status[e.sample_id], filters)], status, decisions

    def progress(self, decisions: list[StoredDecision]) -> dict[str, Any]:
        queued = set(self.by_id)
        decided = {d.sample_id for d in decisions if d.sample_id in queued}
        per_reviewer: dict[str, set[str]] = {}
        for d in decisions:
            if d.sample_id in queued:
                per_reviewer.setdefault(d.reviewer, set()).add(d.sample_id)
        return {"reviewed": len(decided), "total": len(self.queue), "records_in_bundle": self.records_total,
                "per_reviewer": {r: len(ids) for r, ids in sorted(per_reviewer.items())},
                "decisions": len(decisions)}

    def facets(self) -> dict[str, list[str]]:
        """The values each filter can take in this queue."""
        out: dict[str, set[str]] = {"flag": set(), "source": set(), "category": set(), "split": set()}
        for e in self.queue:
            out["flag"].update(e.flags)
            out["source"].add(e.source)
            out["category"].add(e.category)
            out["split"].add(e.split)
        facets = {k: sorted(v) for k, v in out.items()}
        facets["status"] = ["unreviewed", "reviewed", "approve", "reject", "edit"]
        return facets

    def flag_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f for e in self.queue for f in e.flags).items()))
