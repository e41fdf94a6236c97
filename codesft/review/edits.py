"""Reviewer edits and their re-verification, shared by the web app (at save time) and `review apply`.

An edit may change the assistant answer(s) and/or the solution. An edited solution runs with the record's
tests in the sandbox, through the verify stage's own `Verifier` (same program assembly, `program_for`, and
the same sandbox settings as the bundle's curate run); it may be saved only when it passes, or when the record has no tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from codesft.schema import Message, Sample, Verification


class EditError(ValueError):
    """The edit itself is not acceptable (user input: the API answers 4xx)."""


class HarnessError(RuntimeError):
    """The sandbox could not run the program: never a pass, never a fail; the caller stops."""


def verify_config(bundle_config: dict[str, Any]):
    """The bundle's verify settings (timeout, memory), always enabled: a review edit is always checked."""
    from codesft.curate.config import VerifyConfig

    section = dict(bundle_config.get("verify") or {})
    section["enabled"] = True
    section["batch_size"] = 1
    return VerifyConfig(**section)


def has_tests(s: Sample) -> bool:
    return s.code is not None and bool(s.code.tests)


def _messages(original: Sample, edited: list[dict[str, Any]]) -> list[Message]:
    try:
        msgs = [Message.model_validate(m) for m in edited]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise EditError(f"edited_messages: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if len(msgs) != len(original.messages):
        raise EditError(f"edited_messages must keep the conversation's {len(original.messages)} messages "
                        f"(got {len(msgs)})")
    for i, (old, new) in enumerate(zip(original.messages, msgs)):
        if old.role != new.role:
            raise EditError(f"edited_messages[{i}]: role must stay {old.role!r}")
        if old.role != "assistant" and new.model_dump() != old.model_dump():
            raise EditError(f"edited_messages[{i}]: only assistant messages can be edited (this one is {old.role})")
    return msgs


def apply_edit(s: Sample, edited_messages: list[dict[str, Any]] | None, edited_solution: str | None
               ) -> tuple[Sample, list[str]]:
    """The record with the edit applied (a copy) and which fields it changed. An edited solution also
    replaces the old solution's text in the assistant answers (when it appears there verbatim), unless the
    reviewer edited the messages too; their text wins."""
    if edited_messages is None and edited_solution is None:
        raise EditError("an edit needs edited_messages or edited_solution")
    out = s.model_copy(deep=True)
    changed: list[str] = []
    if edited_solution is not None:
        if out.code is None or not out.code.solution:
            raise EditError("this record has no solution to edit; edit the assistant answer instead")
        if not edited_solution.strip():
            raise EditError("edited_solution is empty")
        old = out.code.solution
        out.code.solution = edited_solution
        if edited_messages is None:
            for m in out.messages:
                if m.role == "assistant" and old.strip() and old.strip() in m.content:
                    m.content = m.content.replace(old.strip(), edited_solution.strip())
        changed.append("solution")
    if edited_messages is not None:
        out.messages = _messages(s, edited_messages)
        changed.insert(0, "messages")
    return out, changed


def reverify(s: Sample, bundle_config: dict[str, Any]) -> Verification:
    """Run the record's (edited) solution with its tests; `unverified` when it has none."""
    from codesft.curate.verify import Verifier

    probe = s.model_copy(deep=True)
    probe.quality.decision = "accepted"  # verify skips rejected records; the verdict is all we want
    cfg = verify_config(bundle_config)
    try:
        # Entering runs the canary (once per process and limits): a broken sandbox must not refuse a good
        # edit as failing.
        with Verifier(cfg) as verifier:
            return verifier.verify_batch([probe])[0].quality.verification
    except Exception as exc:  # noqa: BLE001 - any sandbox failure is the harness's, not the record's
        raise HarnessError(f"the sandbox could not run the edited solution: {exc}") from exc


def check_saveable(s: Sample, v: Verification) -> None:
    """An edited solution counts as approved only when it passes, or when the record has no tests."""
    if has_tests(s) and v.status != "passed":
        detail = f"{v.passed}/{v.total} passed" + (f"; {v.reason}" if v.reason else "")
        raise EditError(f"edited solution fails its tests ({v.status}: {detail})")
