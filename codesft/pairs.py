"""The preference pair of a record: the turns before its answer (prompt), the answer (chosen), and the same
answer with the fault's incorrect variant in place of the solution (rejected).

One definition for every consumer: the DPO export (`codesft.export.formats.dpo`) and `codesft train --method
dpo` take their pairs from `pair_messages`, and FGit's incorrect twin swaps the code with `swap_solution`, so
the exported `dpo/*.jsonl` and what a run trains on are the same pairs.

Works on a `Sample` or on its JSON form (`Sample.model_dump(mode="json")`, one parsed line of samples.jsonl):
the curate export reads checkpoint lines as dicts and never builds a `Sample` for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from codesft.schema import Sample


class NotPaired(ValueError):
    """The record has no preference pair; the message says why (it becomes the export's compatibility note)."""


@dataclass(frozen=True)
class Pair:
    prompt: list[dict[str, str]]  # plain {role, content} turns before the answer
    chosen: str  # the answer as written (or the fenced solution when the answer does not hold it)
    rejected: str  # the same, with the incorrect variant in place of the solution

    def row(self) -> dict[str, Any]:
        """TRL's conversational preference row (what `dpo/*.jsonl` holds and DPOTrainer reads)."""
        return {"prompt": self.prompt, "chosen": [{"role": "assistant", "content": self.chosen}],
                "rejected": [{"role": "assistant", "content": self.rejected}]}


def plain_messages(messages: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """{role, content} turns of a plain chat: at least one user turn, ending with the assistant's answer.
    Raises NotPaired for tool calls or another shape."""
    if any(m.get("tool_calls") or m["role"] == "tool" for m in messages):
        raise NotPaired("has tool calls (see hf_tool_calling)")
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    if not any(m["role"] == "user" for m in msgs) or not msgs or msgs[-1]["role"] != "assistant":
        raise NotPaired("needs a user turn and must end with an assistant turn")
    return msgs


def swap_solution(answer: str, solution: str, incorrect: str) -> str | None:
    """The answer with the incorrect variant in place of the solution, or None when the answer does not hold
    the solution. Matched on the stripped code (writers and templates trim the whitespace around a code block),
    every occurrence replaced, so the whitespace around the code stays the answer's own."""
    correct = solution.strip()
    if not correct or correct not in answer:
        return None
    return answer.replace(correct, incorrect.strip())


def _json_form(record: Sample | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(record, Sample):
        return record.model_dump(mode="json", include={"messages", "code", "fault"})
    return record


def pair_messages(record: Sample | Mapping[str, Any]) -> Pair:
    """The record's preference pair; raises NotPaired (with the reason) when it has none."""
    d = _json_form(record)
    fault, code = d.get("fault"), d.get("code")
    if fault is None:
        raise NotPaired("no incorrect variant (fault) attached")
    if not code or not code.get("solution"):
        raise NotPaired("no solution")
    msgs = plain_messages(d["messages"])
    answer = msgs[-1]["content"]
    correct, incorrect = code["solution"], fault["incorrect"]
    rejected = swap_solution(answer, correct, incorrect)
    if rejected is not None:
        chosen = answer
    else:
        # The answer does not show the solution: the pair is the two code blocks on their own.
        lang = code["language"]
        chosen, rejected = f"```{lang}\n{correct.rstrip()}\n```", f"```{lang}\n{incorrect.rstrip()}\n```"
    if chosen == rejected:
        raise NotPaired("incorrect variant equals the solution")
    return Pair(prompt=msgs[:-1], chosen=chosen, rejected=rejected)
