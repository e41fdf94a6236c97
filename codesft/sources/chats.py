"""chats: multi-turn conversations, tool calls kept.

- OpenAI: {"messages": [{role, content, tool_calls?, tool_call_id?, name?}], "tools"?: [...]}
- ShareGPT: {"conversations": [{"from": system|human|user|gpt|assistant|function_call|observation|tool, "value": str}],
  "tools"?: str|list}. A `function_call` turn holds {"name", "arguments"} JSON; the next `observation`
  answers it.
Optional on both: id (or chat_id, conversation_id), group, iterations, category, difficulty, tags, language, license.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from codesft.schema import Message, Sample, ToolCall, ToolCallFunction
from codesft.sources.base import (ReadError, RecordError, Where, build_sample, optional, read_json_source,
                                  record_id, str_list)

KIND = "chat"
ID_FIELDS = ("id", "chat_id", "conversation_id")  # the conversation's own id -> provenance.record_id
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                   "assistant": "assistant", "observation": "tool", "tool": "tool", "function": "tool"}


def _content(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: keep the text parts
        return "".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text")
    raise RecordError(f"{where}.content must be a string or a list of content parts")


def _tool_calls(raw: Any, where: str) -> list[ToolCall] | None:
    if not raw:
        return None
    if not isinstance(raw, list):
        raise RecordError(f"{where}.tool_calls must be a list")
    calls = []
    for j, call in enumerate(raw):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RecordError(f"{where}.tool_calls[{j}].function.name is missing")
        args = fn.get("arguments", "{}")
        args = args if isinstance(args, str) else json.dumps(args, sort_keys=True, ensure_ascii=False)
        calls.append(ToolCall(id=str(call.get("id") or f"call_{j}"),
                              function=ToolCallFunction(name=fn["name"], arguments=args)))
    return calls


def _openai(messages: Any) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise RecordError("field 'messages' must be a non-empty list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            raise RecordError(f"messages[{i}].role must be system, user, assistant or tool")
        out.append(Message(role=m["role"], content=_content(m.get("content"), f"messages[{i}]"),
                           tool_calls=_tool_calls(m.get("tool_calls"), f"messages[{i}]"),
                           tool_call_id=m.get("tool_call_id"), name=m.get("name"),
                           weight=m.get("weight")))
    return out


def _sharegpt(turns: Any) -> list[Message]:
    if not isinstance(turns, list) or not turns:
        raise RecordError("field 'conversations' must be a non-empty list")
    out: list[Message] = []
    pending: list[str] = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or not isinstance(t.get("value"), str):
            raise RecordError(f"conversations[{i}].value must be a string")
        who = t.get("from")
        if who == "function_call":
            try:
                call = json.loads(t["value"])
            except json.JSONDecodeError as exc:
                raise RecordError(f"conversations[{i}]: function_call value is not JSON: {exc}") from None
            calls = call if isinstance(call, list) else [call]
            ids = [f"call_{i}_{j}" for j in range(len(calls))]
            tool_calls = _tool_calls([{"id": cid, "function": c} for cid, c in zip(ids, calls)], f"conversations[{i}]")
            pending.extend(ids)
            out.append(Message(role="assistant", content="", tool_calls=tool_calls))
            continue
        role = _SHAREGPT_ROLES.get(who)
        if role is None:
            raise RecordError(f"conversations[{i}].from '{who}' is not a known ShareGPT role")
        if role == "tool":
            out.append(Message(role="tool", content=t["value"], tool_call_id=pending.pop(0) if pending else None))
        else:
            out.append(Message(role=role, content=t["value"]))
    return out


def _tools(value: Any) -> list[dict] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError(f"field 'tools' is not JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RecordError("field 'tools' must be a list of tool definitions")
    # Accept bare function schemas as well as {"type": "function", "function": {...}}.
    return [t if "function" in t else {"type": "function", "function": t} for t in value]


def map_record(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    if "messages" in obj:
        messages = _openai(obj["messages"])
    elif "conversations" in obj:
        messages = _sharegpt(obj["conversations"])
    else:
        raise RecordError("expected 'messages' (OpenAI) or 'conversations' (ShareGPT)")
    has_tools = any(m.tool_calls for m in messages)
    rid = record_id(obj, *ID_FIELDS)
    group = optional(obj, "group") or rid
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{group}" if group else None,
        messages=messages, tools=_tools(obj.get("tools")),
        metadata={"category": optional(obj, "category", default="tool_use" if has_tools else "conversation"),
                  "language": optional(obj, "language"),
                  "difficulty": optional(obj, "difficulty"), "tags": str_list(obj, "tags"),
                  "domain": optional(obj, "domain")},
        iterations=int(optional(obj, "iterations", (int,), default=1)),
        license=optional(obj, "license"),
    )


def read(path: str | Path, **_: Any) -> Iterator[Sample | ReadError]:
    yield from read_json_source(path, map_record)
