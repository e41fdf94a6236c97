"""Inter-rater agreement: Cohen's kappa between reviewers who decided the same records.

Computed here (a few lines) rather than with scikit-learn's `cohen_kappa_score`: scikit-learn is not a
codesft dependency and would be a large one for one formula. Labels are the decisions approve / reject /
edit, each reviewer's latest decision on a record.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any, Sequence

from codesft.review.store import StoredDecision, latest_per_reviewer


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """kappa = (p_o - p_e) / (1 - p_e). None when undefined: no items, or both raters always gave the one
    same label (p_e = 1: chance explains everything, there is nothing to measure)."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if p_e == 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def agreement(decisions: list[StoredDecision]) -> dict[str, Any]:
    """Kappa for every pair of reviewers over the records both decided, and pooled over all pairs (each
    record-and-pair is one item, the pair's reviewers in name order)."""
    per_record = latest_per_reviewer(decisions)
    pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for per in per_record.values():
        for r1, r2 in combinations(sorted(per), 2):
            la, lb = pairs.setdefault((r1, r2), ([], []))
            la.append(per[r1].decision)
            lb.append(per[r2].decision)
    pooled_a = [x for la, _ in pairs.values() for x in la]
    pooled_b = [y for _, lb in pairs.values() for y in lb]
    return {
        "labels": "latest decision per reviewer: approve / reject / edit",
        "records_with_two_or_more_reviewers": sum(1 for per in per_record.values() if len(per) >= 2),
        "pairs": [{"reviewers": [r1, r2], "records": len(la), "observed_agreement": _observed(la, lb),
                   "cohen_kappa": _round(cohen_kappa(la, lb))} for (r1, r2), (la, lb) in sorted(pairs.items())],
        "cohen_kappa": _round(cohen_kappa(pooled_a, pooled_b)),
    }


def _observed(a: list[str], b: list[str]) -> float | None:
    return round(sum(x == y for x, y in zip(a, b)) / len(a), 4) if a else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
