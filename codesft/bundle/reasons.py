"""Reason strings: `code: detail`. The gate writes them on records; the bundle counts them by code and
names one primary reason per rejected record."""

from __future__ import annotations

# The codes the gate uses for a downgrade (a soft reason). A record that a later stage rejects carries one
# of these first, so the primary reason of a rejection skips them.
SOFT_REASONS = frozenset({"too_many_iterations", "no_code_pair", "unverified", "before_passes"})


def reason_code(reason: str) -> str:
    """The `code` part of `code: detail`."""
    return reason.split(":", 1)[0].strip()


def primary_reason(reasons: list[str]) -> str:
    """The first hard reason, else the first reason, else "rejected"."""
    hard = [r for r in reasons if r.split(":", 1)[0] not in SOFT_REASONS]
    return (hard or reasons or ["rejected"])[0]
