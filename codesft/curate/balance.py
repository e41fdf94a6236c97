"""balance: cap the share of over-represented buckets (by category, language or difficulty).

Two passes like dedup: `plan_balance` counts live records per bucket (memory: one counter per
bucket) and solves for keep counts so that no capped bucket exceeds its target share of the
result; `apply_balance` keeps a record when its seeded hash rank falls under the bucket's keep
ratio, so the choice is deterministic and needs no per-record state. Deficits (buckets below
their target share) are reported, not invented.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from codesft.curate.config import BalanceConfig
from codesft.curate.gate import fork, reject
from codesft.schema import Sample


def bucket_of(s: Sample, by: str) -> str:
    return str(getattr(s.metadata, by) or "unknown")


@dataclass
class BalancePlan:
    counts: dict[str, int] = field(default_factory=dict)
    keep_ratio: dict[str, float] = field(default_factory=dict)
    target_counts: dict[str, int] = field(default_factory=dict)
    deficits: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"counts": dict(sorted(self.counts.items())), "keep_ratio": dict(sorted(self.keep_ratio.items())),
                "target_counts": dict(sorted(self.target_counts.items())), "deficits": dict(sorted(self.deficits.items()))}


def solve(counts: dict[str, int], targets: dict[str, float]) -> dict[str, int]:
    """Largest keep counts with keep[b] <= targets[b] * total for every capped bucket b.

    total T must satisfy T = f(T) = sum(uncapped) + sum(min(n_b, t_b * T)); f is monotone and
    f(T) <= N, so iterating from T = N descends to the largest fixed point.
    """
    total = float(sum(counts.values()))
    for _ in range(1000):
        nxt = sum(min(n, targets[b] * total) if b in targets else n for b, n in counts.items())
        if total - nxt < 1e-6:
            break
        total = nxt
    return {b: min(n, int(targets[b] * total + 1e-6)) if b in targets else n for b, n in counts.items()}


def plan_balance(samples: Iterable[Sample], cfg: BalanceConfig) -> BalancePlan:
    counts: dict[str, int] = {}
    for s in samples:
        if s.quality.decision == "rejected":
            continue
        b = bucket_of(s, cfg.by)
        counts[b] = counts.get(b, 0) + 1
    return plan_from_counts(counts, cfg)


def plan_from_counts(counts: dict[str, int], cfg: BalanceConfig) -> BalancePlan:
    """The plan from live-record counts per bucket (insertion order = first appearance, as in plan_balance)."""
    plan = BalancePlan(counts=dict(counts))
    if not cfg.enabled or not cfg.targets:
        return plan
    keep = solve(plan.counts, cfg.targets)
    total = sum(keep.values()) or 1
    for b, n in plan.counts.items():
        plan.target_counts[b] = keep[b]
        plan.keep_ratio[b] = keep[b] / n if n else 1.0
    for b, t in cfg.targets.items():
        share = keep.get(b, 0) / total
        if share + 1e-9 < t:
            plan.deficits[b] = {"target_share": t, "actual_share": round(share, 4),
                                "missing_records": max(0, int(t * total) - keep.get(b, 0))}
    return plan


def _rank(seed: int, sample_id: str) -> float:
    return int(hashlib.sha256(f"{seed}:balance:{sample_id}".encode()).hexdigest()[:12], 16) / float(1 << 48)


def keep(s: Sample, keep_ratio: dict[str, float], cfg: BalanceConfig, seed: int) -> Sample:
    """`s`, or a rejected copy when its bucket is over its share and its seeded rank falls outside."""
    if s.quality.decision == "rejected":
        return s
    b = bucket_of(s, cfg.by)
    ratio = keep_ratio.get(b, 1.0)
    if ratio < 1.0 and _rank(seed, s.sample_id) >= ratio:
        return reject(fork(s), f"balance_downsampled: {cfg.by}={b} over its {cfg.targets[b]:g} share", "balance")
    return s


def keep_dict(d: dict, keep_ratio: dict[str, float], cfg: BalanceConfig, seed: int) -> dict:
    """`keep` for a record in its JSON form (`Sample.model_dump(mode="json")`), rejected in place."""
    q = d["quality"]
    if q["decision"] == "rejected":
        return d
    b = str(d["metadata"][cfg.by] or "unknown")
    ratio = keep_ratio.get(b, 1.0)
    if ratio < 1.0 and _rank(seed, d["sample_id"]) >= ratio:
        q["decision"] = "rejected"
        q["reasons"].append(f"balance_downsampled: {cfg.by}={b} over its {cfg.targets[b]:g} share")
        d["source"]["stage"] = "balance"
    return d


def apply_balance(samples: Iterable[Sample], plan: BalancePlan, cfg: BalanceConfig, seed: int) -> Iterator[Sample]:
    for s in samples:
        yield keep(s, plan.keep_ratio, cfg, seed)


class BalanceStage:
    """balance as a whole-dataset stage of the curate driver: the bucket of each record live when the stream
    reaches it (JSON keys, in order), the plan from their counts, and per record in a capped bucket its
    (bucket, keep ratio), which `keep` applies."""

    name = "balance"
    binary_keys = False

    def prepare(self, cfg) -> None:
        return None

    def key(self, s: Sample, cfg) -> str:
        return bucket_of(s, cfg.balance.by)

    def plan(self, keys: Path, cfg) -> BalancePlan:
        counts: dict[str, int] = {}  # first appearance order, as `plan_balance` counts
        with keys.open(encoding="utf-8") as fh:
            for line in fh:
                b = json.loads(line)
                counts[b] = counts.get(b, 0) + 1
        return plan_from_counts(counts, cfg.balance)

    def entry(self, plan: BalancePlan, index: int, key: str) -> tuple[str, float] | None:
        ratio = plan.keep_ratio.get(key, 1.0)
        return (key, ratio) if ratio < 1.0 else None

    def apply(self, s: Sample, entry: tuple[str, float], cfg) -> Sample:
        return keep(s, dict([entry]), cfg.balance, cfg.seed)

    def stats(self, plan: BalancePlan) -> dict:
        return plan.to_dict()

    def metrics(self, plan: BalancePlan) -> dict:
        return {}
