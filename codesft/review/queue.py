"""What reviewers look at: a deterministic stratified sample of the bundle plus every flagged record.

The sample is stratified by (source kind, category, split): each stratum gets its proportional share of
`round(share * N)` records by largest-remainder allocation (ties broken by a seeded hash of the stratum),
and inside a stratum the records with the smallest `sha256(seed:sample_id)` are taken. Same bundle, share
and seed -> same sample, whatever the order of the file.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from codesft.schema import Sample

NEAR_FLOOR_POINTS = 5.0  # "within a few points of the score floor": score < floor + this
FLAGS = ("downgraded", "redacted", "unverified", "near_score_floor", "near_duplicate", "fault_unverified")


@dataclass
class QueueEntry:
    sample_id: str
    offset: int  # byte offset of the record's line in samples.jsonl (records are read on demand)
    source: str
    category: str
    split: str
    flags: list[str] = field(default_factory=list)
    in_sample: bool = False

    @property
    def stratum(self) -> tuple[str, str, str]:
        return (self.source, self.category, self.split)

    def to_dict(self) -> dict[str, Any]:
        return {"sample_id": self.sample_id, "source": self.source, "category": self.category, "split": self.split,
                "flags": list(self.flags), "in_sample": self.in_sample}


def flags_of(s: Sample, min_score: float | None) -> list[str]:
    """Why the pipeline wants a person to look at this record (empty when nothing stands out)."""
    out = []
    if s.quality.decision == "downgraded":
        out.append("downgraded")
    if s.redaction.status == "redacted":
        out.append("redacted")
    if s.quality.verification.status == "unverified":
        out.append("unverified")
    if min_score is not None and s.quality.score < min_score + NEAR_FLOOR_POINTS:
        out.append("near_score_floor")
    if s.dedup is not None and s.dedup.method == "near":
        out.append("near_duplicate")
    if s.fault is not None and s.fault.verified_failing is not True:
        out.append("fault_unverified")
    return out


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def stratified_sample(entries: Iterable[QueueEntry], share: float, seed: int) -> set[str]:
    """sample_ids of the stratified sample (see the module docstring)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"sample share must be between 0 and 1, got {share}")
    strata: dict[tuple[str, str, str], list[QueueEntry]] = {}
    for e in entries:
        strata.setdefault(e.stratum, []).append(e)
    total = sum(len(v) for v in strata.values())
    target = round(share * total)
    quotas = {k: share * len(v) for k, v in strata.items()}
    alloc = {k: math.floor(q) for k, q in quotas.items()}
    leftover = target - sum(alloc.values())
    by_remainder = sorted(strata, key=lambda k: (-(quotas[k] - alloc[k]), _rank(seed, "\x1f".join(k))))
    for k in by_remainder[:max(leftover, 0)]:
        alloc[k] += 1
    chosen: set[str] = set()
    for k, members in strata.items():
        ranked = sorted(members, key=lambda e: _rank(seed, e.sample_id))
        chosen.update(e.sample_id for e in ranked[:alloc[k]])
    return chosen


def build_queue(entries: list[QueueEntry], share: float, seed: int) -> list[QueueEntry]:
    """The sampled and the flagged records, in bundle order."""
    sampled = stratified_sample(entries, share, seed)
    out = []
    for e in entries:
        e.in_sample = e.sample_id in sampled
        if e.in_sample or e.flags:
            out.append(e)
    return out


def matches(e: QueueEntry, status: str, filters: dict[str, str | None]) -> bool:
    """Queue filters: flag, source, category, split, and review status (unreviewed, reviewed, or a decision)."""
    if filters.get("flag") and filters["flag"] not in e.flags:
        return False
    for key in ("source", "category", "split"):
        if filters.get(key) and getattr(e, key) != filters[key]:
            return False
    want = filters.get("status")
    if want:
        if want == "reviewed":
            return status != "unreviewed"
        return status == want
    return True
