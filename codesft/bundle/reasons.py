"""Reason strings: `code: detail`. The gate writes them on records; the bundle counts them by code and
names one primary reason per rejected record."""

from __future__ import annotations

# The codes the gate uses for a downgrade (a soft reason). A record that a later stage rejects carries one
# of these first, so the primary reason of a rejection skips them.
SOFT_REASONS = frozenset({"too_many_iterations", "no_code_pair", "unverified", "before_passes"})

# The codes `codesft augment` writes on the records it drops (rejected.jsonl, and the manifest's counts per
# strategy). Its gates reuse curate's codes (exact_duplicate, near_duplicate, contaminated, score_below_floor, ...).
AUGMENT_REASONS: dict[str, str] = {
    "teacher_request_failed": "the teacher's request failed (HTTP error, timeout, malformed response)",
    "unparseable": "the teacher's answer lacks a section the strategy needs (### Instruction / ### Solution / "
                   "### Tests), its code does not parse, or its tests assert nothing",
    "entry_point_missing": "the new instruction does not name the function under test, or the new solution does "
                           "not define it",
    "near_duplicate_paraphrase": "a paraphrase too close to the original instruction or to a paraphrase kept before it",
    "solution_fails_own_tests": "the teacher's solution fails the teacher's tests in the sandbox",
    "tests_not_new": "the original solution passes every new test: the tests check nothing new",
    "not_self_consistent": "a second, independently drawn solution of the new task fails its tests",
    "translation_fails": "the translated solution fails the translated tests in the sandbox",
}


def reason_code(reason: str) -> str:
    """The `code` part of `code: detail`."""
    return reason.split(":", 1)[0].strip()


def primary_reason(reasons: list[str]) -> str:
    """The first hard reason, else the first reason, else "rejected"."""
    hard = [r for r in reasons if r.split(":", 1)[0] not in SOFT_REASONS]
    return (hard or reasons or ["rejected"])[0]
