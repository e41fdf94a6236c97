"""Export formats. Each format is `convert(sample) -> row`, raising `NotExportable(reason)` when the
record does not fit; the reason lands in `Sample.export_compatibility`."""

from __future__ import annotations

import json
from typing import Any, Callable

from codesft.schema import Sample


class NotExportable(Exception):
    pass


def _plain_messages(s: Sample) -> list[dict[str, str]]:
    if any(m.tool_calls or m.role == "tool" for m in s.messages):
        raise NotExportable("has tool calls (see hf_tool_calling)")
    msgs = [{"role": m.role, "content": m.content} for m in s.messages]
    if not any(m["role"] == "user" for m in msgs) or not msgs or msgs[-1]["role"] != "assistant":
        raise NotExportable("needs a user turn and must end with an assistant turn")
    return msgs


def openai_chat(s: Sample) -> dict[str, Any]:
    return {"messages": _plain_messages(s)}


_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}


def hf_conversational(s: Sample) -> dict[str, Any]:
    return {"conversations": [{"from": _SHAREGPT[m["role"]], "value": m["content"]} for m in _plain_messages(s)]}


def hf_tool_calling(s: Sample) -> dict[str, Any]:
    if not any(m.tool_calls for m in s.messages):
        raise NotExportable("no tool calls")
    msgs = []
    for m in s.messages:
        row: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            # transformers chat templates expect arguments as an object, not the OpenAI JSON string.
            row["tool_calls"] = [{"type": "function", "function": {"name": c.function.name,
                                                                    "arguments": _args(c.function.arguments)}}
                                 for c in m.tool_calls]
        if m.tool_call_id:
            row["tool_call_id"] = m.tool_call_id
        msgs.append(row)
    return {"messages": msgs, "tools": json.dumps(s.tools or [], sort_keys=True, ensure_ascii=False)}


def _args(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"raw": raw}
    return value if isinstance(value, dict) else {"value": value}


def alpaca(s: Sample) -> dict[str, Any]:
    msgs = _plain_messages(s)
    turns = [m for m in msgs if m["role"] != "system"]
    if len(turns) != 2:
        raise NotExportable("alpaca holds exactly one question and one answer")
    return {"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]}


def dpo(s: Sample) -> dict[str, Any]:
    if s.fault is None:
        raise NotExportable("no incorrect variant (fault) attached")
    if not s.code or not s.code.solution:
        raise NotExportable("no solution")
    msgs = _plain_messages(s)
    answer = msgs[-1]["content"]
    correct, incorrect = s.code.solution, s.fault.incorrect
    lang = s.code.language
    if correct.strip() and correct.strip() in answer:
        chosen, rejected = answer, answer.replace(correct.strip(), incorrect.strip())
    else:
        chosen, rejected = (f"```{lang}\n{correct.rstrip()}\n```", f"```{lang}\n{incorrect.rstrip()}\n```")
    if chosen == rejected:
        raise NotExportable("incorrect variant equals the solution")
    return {"prompt": msgs[:-1], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def parquet_row(s: Sample, record_json: str | None = None) -> dict[str, Any]:
    c = s.code
    return {"sample_id": s.sample_id,
            "messages": [{"role": m.role, "content": m.content} for m in s.messages],
            "tools": json.dumps(s.tools, sort_keys=True, ensure_ascii=False) if s.tools else None,
            "category": s.metadata.category, "language": s.metadata.language, "difficulty": s.metadata.difficulty,
            "score": s.quality.score, "decision": s.quality.decision,
            "verification": s.quality.verification.status,
            "solution": c.solution if c else None, "tests": c.tests if c else None,
            "entry_point": c.entry_point if c else None,
            "incorrect": s.fault.incorrect if s.fault else None,
            "record": record_json if record_json is not None else s.to_json()}


JSONL_FORMATS: dict[str, Callable[[Sample], dict[str, Any]]] = {
    "openai_chat": openai_chat, "hf_conversational": hf_conversational, "hf_tool_calling": hf_tool_calling,
    "alpaca": alpaca, "dpo": dpo,
}


def compatibility(s: Sample, formats: list[str]) -> dict[str, str]:
    out = {}
    for fmt in formats:
        if fmt == "parquet":
            out[fmt] = "ok"
            continue
        try:
            JSONL_FORMATS[fmt](s)
            out[fmt] = "ok"
        except NotExportable as exc:
            out[fmt] = str(exc)
    return out
