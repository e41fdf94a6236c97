"""Export formats. Each format is `convert(sample) -> row`, raising `NotExportable(reason)` when the
record does not fit; the reason lands in `Sample.export_compatibility`."""

from __future__ import annotations

import json
from typing import Any, Callable

from codesft.pairs import NotPaired, pair_messages, plain_messages
from codesft.schema import Sample


class NotExportable(Exception):
    pass


# Every format works on the record's JSON form (`Sample.model_dump(mode="json")`, i.e. one parsed line of
# samples.jsonl): the pipeline's export phase reads its checkpoint lines with `json.loads` and never builds a
# `Sample` (validation plus re-serialisation cost more than the rows). `sample_dict` gives that form for a Sample.


def sample_dict(s: Sample) -> dict[str, Any]:
    return s.model_dump(mode="json")


def _plain_messages(d: dict[str, Any]) -> list[dict[str, str]]:
    try:
        return plain_messages(d["messages"])
    except NotPaired as exc:
        raise NotExportable(str(exc)) from None


def openai_chat_row(d: dict[str, Any]) -> dict[str, Any]:
    return {"messages": _plain_messages(d)}


_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}


def hf_conversational_row(d: dict[str, Any]) -> dict[str, Any]:
    return {"conversations": [{"from": _SHAREGPT[m["role"]], "value": m["content"]} for m in _plain_messages(d)]}


def hf_tool_calling_row(d: dict[str, Any]) -> dict[str, Any]:
    if not any(m.get("tool_calls") for m in d["messages"]):
        raise NotExportable("no tool calls")
    msgs = []
    for m in d["messages"]:
        row: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if m.get("tool_calls"):
            # transformers chat templates expect arguments as an object, not the OpenAI JSON string.
            row["tool_calls"] = [{"type": "function", "function": {"name": c["function"]["name"],
                                                                    "arguments": _args(c["function"]["arguments"])}}
                                 for c in m["tool_calls"]]
        if m.get("tool_call_id"):
            row["tool_call_id"] = m["tool_call_id"]
        msgs.append(row)
    return {"messages": msgs, "tools": json.dumps(d.get("tools") or [], sort_keys=True, ensure_ascii=False)}


def _args(raw: str) -> dict[str, Any]:
    # Decoding turns escapes (`\u0073k-...`, `https:\/\/...`) into clear text. The redact stage scans the
    # arguments decoded (codesft.curate.redact), so what is decoded here was already redacted.
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"raw": raw}
    return value if isinstance(value, dict) else {"value": value}


def alpaca_row(d: dict[str, Any]) -> dict[str, Any]:
    msgs = _plain_messages(d)
    turns = [m for m in msgs if m["role"] != "system"]
    if len(turns) != 2:
        raise NotExportable("alpaca holds exactly one question and one answer")
    return {"instruction": turns[0]["content"], "input": "", "output": turns[1]["content"]}


def dpo_row(d: dict[str, Any]) -> dict[str, Any]:
    # The pair `train --method dpo` trains on too (codesft.pairs).
    try:
        return pair_messages(d).row()
    except NotPaired as exc:
        raise NotExportable(str(exc)) from None


def parquet_row_dict(d: dict[str, Any], record_json: str | None = None) -> dict[str, Any]:
    c, q, md, fault = d.get("code"), d["quality"], d["metadata"], d.get("fault")
    tools = d.get("tools")
    return {"sample_id": d["sample_id"],
            "messages": [{"role": m["role"], "content": m["content"]} for m in d["messages"]],
            "tools": json.dumps(tools, sort_keys=True, ensure_ascii=False) if tools else None,
            "category": md["category"], "language": md["language"], "difficulty": md["difficulty"],
            "score": q["score"], "decision": q["decision"], "verification": q["verification"]["status"],
            "solution": c["solution"] if c else None, "tests": c["tests"] if c else None,
            "entry_point": c["entry_point"] if c else None,
            "incorrect": fault["incorrect"] if fault else None,
            "record": record_json if record_json is not None else _dumps(d)}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


DICT_FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "openai_chat": openai_chat_row, "hf_conversational": hf_conversational_row,
    "hf_tool_calling": hf_tool_calling_row, "alpaca": alpaca_row, "dpo": dpo_row,
}


def openai_chat(s: Sample) -> dict[str, Any]:
    return openai_chat_row(sample_dict(s))


def hf_conversational(s: Sample) -> dict[str, Any]:
    return hf_conversational_row(sample_dict(s))


def hf_tool_calling(s: Sample) -> dict[str, Any]:
    return hf_tool_calling_row(sample_dict(s))


def alpaca(s: Sample) -> dict[str, Any]:
    return alpaca_row(sample_dict(s))


def dpo(s: Sample) -> dict[str, Any]:
    return dpo_row(sample_dict(s))


def parquet_row(s: Sample, record_json: str | None = None) -> dict[str, Any]:
    return parquet_row_dict(sample_dict(s), record_json)


JSONL_FORMATS: dict[str, Callable[[Sample], dict[str, Any]]] = {
    "openai_chat": openai_chat, "hf_conversational": hf_conversational, "hf_tool_calling": hf_tool_calling,
    "alpaca": alpaca, "dpo": dpo,
}


def rows_and_compatibility(d: dict[str, Any], formats: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """({format: row} for the JSONL formats the record fits, {format: "ok" or why not}) in one pass."""
    rows, compat = {}, {}
    for fmt in formats:
        if fmt == "parquet":
            compat[fmt] = "ok"
            continue
        try:
            rows[fmt] = DICT_FORMATS[fmt](d)
            compat[fmt] = "ok"
        except NotExportable as exc:
            compat[fmt] = str(exc)
    return rows, compat


def compatibility(s: Sample, formats: list[str]) -> dict[str, str]:
    return rows_and_compatibility(sample_dict(s), formats)[1]
