"""Failure kinds: why a sample failed, read from the sandbox's structured verdict and the generation record.

The rules (also in docs/eval.md, "Failure kinds"), first match wins:
1. the sample passed -> `passed`;
2. the request failed (`generation_error` set) -> `generation_error` (the harness's fault, not the model's);
3. the generation stopped at `max_new_tokens` (`finish_reason == "length"`, as both backends record it) ->
   `truncated`: a cut-off answer fails whatever the sandbox then says about it;
4. nothing could be extracted (empty code) -> `no_code`;
5. otherwise the first failing suite's sandbox verdict: status `timeout` / `memory` as they are, status `error`
   (the sandbox could not prepare the child) -> `sandbox_error`; a `failed` verdict by the exception type the
   harness reported (its `stage: Type: message` channel record, or the first failing test's `Type: message`).

The exception type is read from the sandbox's nonce-tagged verdict channel, never from the program's stdout or
stderr, which the program controls.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

PASSED = "passed"
# The kinds a model's sample can fail with, in the order reports list them.
KINDS: tuple[str, ...] = (PASSED, "syntax_error", "name_or_import_error", "runtime_error", "wrong_answer",
                          "timeout", "memory", "truncated", "no_code")
# Kinds that say the harness, not the model, failed: counted apart so they are never read as model failures.
HARNESS_KINDS: tuple[str, ...] = ("generation_error", "sandbox_error")
# An old results.jsonl line without `kind` and without the fields to compute it.
UNKNOWN = "unknown"

_SYNTAX = frozenset({"SyntaxError", "IndentationError", "TabError"})
# UnboundLocalError is a NameError subclass but a logic slip (a local used before assignment), not a missing
# name: it stays a runtime_error.
_NAME = frozenset({"NameError", "ImportError", "ModuleNotFoundError"})
_WRONG = frozenset({"AssertionError"})
# The HumanEval+ harness's per-input time limit (codesft/evaluate/plus_harness.py) raises this inside the program.
_TIMEOUT = frozenset({"_CsTimeout"})
# Fixed reasons of codesft/sandbox/verdict.py and harness.py.
_TESTS_FAILED = "one or more tests failed"
_STDOUT_DIFFERS = "stdout differs from expected_stdout"
# The harness's failure record: "<stage>: <ExceptionType>[: message]" (or "<stage>: SystemExit(...)"); a
# per-test error has no stage.
_EXCEPTION = re.compile(r"^(?:(code|test|check|tests\[\d+\]): )?([A-Za-z_][A-Za-z0-9_]*)(?::|\(|$)")


def _exception_kind(stage: str | None, exc: str) -> str:
    if exc in _SYNTAX:
        # A syntax error while a test (not the candidate) runs comes from code the candidate compiles at run time.
        return "syntax_error" if stage in (None, "code") else "runtime_error"
    if exc in _NAME:
        return "name_or_import_error"
    if exc in _WRONG:
        return "wrong_answer"
    if exc in _TIMEOUT:
        return "timeout"
    return "runtime_error"


def program_kind(status: str, reason: str, first_error: str = "") -> str:
    """The kind of one suite's sandbox verdict (status, reason, first failing test's error)."""
    if status == PASSED:
        return PASSED
    if status in ("timeout", "memory"):
        return status
    if status == "error":
        return "sandbox_error"
    if status != "failed":
        raise ValueError(f"unknown sandbox status {status!r}")
    if reason == _STDOUT_DIFFERS:
        return "wrong_answer"
    text = first_error if reason == _TESTS_FAILED or not reason else reason
    m = _EXCEPTION.match(text or "")
    if not m:
        return "runtime_error"  # killed by a signal, exited early, or tests that never ran: the program crashed
    return _exception_kind(m.group(1), m.group(2))


def sample_kind(*, passed: bool, suites: Mapping[str, Any], code: str, finish_reason: str | None = None,
                generation_error: str | None = None) -> str:
    """The kind of a sample (rules in the module docstring). `suites` in the order the problem lists them."""
    if passed:
        return PASSED
    if generation_error:
        return "generation_error"
    if finish_reason == "length":
        return "truncated"
    if not (code or "").strip():
        return "no_code"
    for suite in suites.values():
        if suite.get("status") != PASSED:
            return program_kind(suite.get("status", ""), suite.get("reason") or "", suite.get("first_error") or "")
    # Every suite passed but the sample did not: only a sample-level fault (none today) gets here.
    return "runtime_error"


def kind_of_record(rec: Mapping[str, Any]) -> str:
    """A results.jsonl record's kind: its `kind` field, or (a file written before kinds existed) computed from
    its verdict fields, or `unknown` when it lacks them."""
    kind = rec.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    if rec.get("passed") is True:
        return PASSED
    suites = rec.get("suites")
    if not isinstance(suites, dict) or "code" not in rec:
        return UNKNOWN
    try:
        return sample_kind(passed=False, suites=suites, code=rec.get("code") or "",
                           finish_reason=rec.get("finish_reason"), generation_error=rec.get("generation_error"))
    except ValueError:
        return UNKNOWN


def count_kinds(kinds: Iterable[str]) -> dict[str, int]:
    """Counts of every kind (the nine model kinds always listed, zeros included; others only when present)."""
    counts = Counter(kinds)
    out = {k: counts.get(k, 0) for k in KINDS}
    out.update({k: v for k, v in sorted(counts.items()) if k not in out})
    return out


def main_failure_kind(kinds: Iterable[str]) -> str | None:
    """The kind a problem failed with: the most common kind among its failing samples (ties: KINDS order)."""
    failing = Counter(k for k in kinds if k != PASSED)
    if not failing:
        return None
    order = {k: i for i, k in enumerate(KINDS + HARNESS_KINDS)}
    return min(failing, key=lambda k: (-failing[k], order.get(k, len(order)), k))
