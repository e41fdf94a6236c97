"""redact: secrets and personal data out of every text field of the record.

The detectors live in `codesft.curate.secrets` (detect-secrets' provider plugins, our own rules where it
falls short, entropy checks on values assigned to secret-looking names). `redacted` rules replace a match
with `[REDACTED:<rule>]`; `blocked` rules (private keys) also mark the whole record blocked, so the gate
rejects it.

The walk follows the record's schema rather than a list of keys to skip: a key skip-list (`role`,
`status`, ...) also skips user data that happens to use those names inside tool schemas. Only the paths in
`_STRUCTURAL` (ids, hashes, enums the pipeline writes) are left out. Tool schemas and tool-call arguments
are user JSON: arguments are parsed and their decoded values scanned (as JSON text, `\\u0073k-...` and
`https:\\/\\/...` would pass and an export that decodes them would write them out in clear).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from codesft.curate.config import RedactConfig
from codesft.curate.secrets import (RULE_NAMES, RULES, Rule, candidates, literal_is_secret, mark, redact_text,
                                    secret_key)
from codesft.schema import Finding, Redaction, Sample

__all__ = ["RULES", "RULE_NAMES", "Rule", "active_rules", "excerpt", "may_match", "redact_one",
           "redact_record_dict", "redact_rejected_entry", "redact_text", "redact_value"]

# Schema paths (list indices as `[]`) whose values the pipeline itself writes; every other string is scanned.
_STRUCTURAL = frozenset({
    "sample_id", "schema_version", "source.kind", "source.run_id", "source.stage", "source.artifact_refs[].kind",
    "source.artifact_refs[].content_hash", "messages[].role", "messages[].tool_calls[].type", "provenance.content_hash",
    "quality.decision", "quality.verification.status", "quality.verification.before_status", "split", "redaction",
    "dedup", "export_compatibility", "fault.similarity_method",
})
_ARGUMENTS = "messages[].tool_calls[].function.arguments"
_FREE_JSON = "tools"
# The prefilter reads the record's JSON text less what is never scanned (ids, hashes) and less the fields whose
# key names alone would meet a condition (`token_estimate`; `verified_failing` is a 16-character run).
_PREFILTER_EXCLUDE: dict[str, Any] = {
    "redaction": True, "sample_id": True, "split": True, "dedup": True, "export_compatibility": True,
    "provenance": {"content_hash"}, "source": {"artifact_refs": {"__all__": {"content_hash"}}},
    "quality": {"token_estimate"},
    "fault": {"similarity_method", "verified_failing", "candidates_tried", "correct_spans", "incorrect_spans"},
}
_RECORD_KEYS = frozenset({"sample_id", "provenance", "messages", "redaction"})


def may_match(text: str, rules: list[Rule]) -> bool:
    """False only when no rule in `rules` can match any string inside `text` (a record's JSON, or a field)."""
    return bool(candidates(text, rules))


def active_rules(cfg: RedactConfig | None) -> list[Rule]:
    if cfg is None or cfg.rules is None:
        return RULES
    unknown = set(cfg.rules) - set(RULE_NAMES)
    if unknown:
        raise ValueError(f"unknown redaction rule(s): {', '.join(sorted(unknown))}")
    return [r for r in RULES if r.name in cfg.rules]


def excerpt(text: str, limit: int) -> str:
    """The first `limit` characters of `text` for a report of bad input, redacted *before* the cut: cut
    first, and a token that straddles the cut keeps its first characters in clear (too short to match)."""
    return redact_text(text, RULES)[0][:limit]


@dataclass
class _Walk:
    rules: list[Rule]
    found: list[tuple[str, Rule]] = field(default_factory=list)

    def text(self, value: str, path: str) -> str:
        new, hits = redact_text(value, self.rules)
        self.found.extend((path, r) for r in hits)
        return new


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk_json(value: Any, path: str, w: _Walk) -> Any:
    """User JSON (tool schemas, decoded arguments): every key and value; a string under a secret-looking
    key (`"api_key": "..."`) gets the assignment check the key's text would have given it."""
    if isinstance(value, str):
        return w.text(value, path)
    if isinstance(value, list):
        return [_walk_json(v, f"{path}[{i}]", w) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    assign = next((r for r in w.rules if r.assignment), None)
    out: dict[str, Any] = {}
    for k, v in value.items():
        key = w.text(k, _join(path, "<key>"))  # the path names the redacted key, never a secret one
        p = _join(path, key)
        keyword = secret_key(k) if assign is not None and isinstance(v, str) else None
        if keyword is not None and literal_is_secret(keyword, v):
            out[key] = mark(assign)
            w.found.append((p, assign))
        else:
            out[key] = _walk_json(v, p, w)
    return out


def _arguments(raw: str, path: str, w: _Walk) -> str:
    """Tool-call arguments: a JSON string. Parsed, scanned decoded, re-serialised only when something was
    redacted (unchanged arguments keep their bytes). Not JSON: scanned as text, JSON escapes decoded."""
    try:
        value = json.loads(raw)
    except ValueError:
        return w.text(raw, path)
    before = len(w.found)
    new = _walk_json(value, path, w)
    return raw if len(w.found) == before else json.dumps(new, ensure_ascii=False)


def _walk_record(value: Any, path: str, spath: str, w: _Walk) -> Any:
    if isinstance(value, str):
        return w.text(value, path)
    if isinstance(value, list):
        return [_walk_record(v, f"{path}[{i}]", spath + "[]", w) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        p, sp = _join(path, k), _join(spath, k)
        if sp in _STRUCTURAL or v is None:
            out[k] = v
        elif sp == _FREE_JSON:
            out[k] = _walk_json(v, p, w)
        elif sp == _ARGUMENTS and isinstance(v, str):
            out[k] = _arguments(v, p, w)
        else:
            out[k] = _walk_record(v, p, sp, w)
    return out


def _redaction(prior: dict[str, Any], found: list[tuple[str, Rule]]) -> dict[str, Any]:
    """The record's redaction block after `found`: never `clean` once anything was found."""
    findings = list(prior.get("findings") or []) + [
        Finding(kind=r.name, severity=r.severity, field_path=p, action=r.action).model_dump(mode="json")
        for p, r in found]
    blocked = prior.get("status") == "blocked" or any(r.action == "blocked" for _, r in found)
    return Redaction(
        status="blocked" if blocked else "redacted",
        applied_rules=sorted(set(prior.get("applied_rules") or []) | {r.name for _, r in found}),
        findings=findings,
        redacted_fields=sorted(set(prior.get("redacted_fields") or []) | {p for p, _ in found}),
    ).model_dump(mode="json")


def redact_record_dict(d: dict[str, Any], rules: list[Rule] = RULES) -> tuple[dict[str, Any], list[tuple[str, Rule]]]:
    """Redact a record in its JSON form (`Sample.model_dump(mode="json")`); (new form, findings)."""
    w = _Walk(list(rules))
    out = _walk_record(d, "", "", w)
    if w.found:
        out["redaction"] = _redaction(d.get("redaction") or {}, w.found)
    return out, w.found


def _without(value: Any, spec: Any) -> Any:
    """`value` (a record's JSON form) less the parts `spec` names, as pydantic's `exclude` reads it."""
    if isinstance(spec, (set, frozenset)):
        spec = dict.fromkeys(spec, True)
    if isinstance(value, list):
        inner = spec.get("__all__")
        return value if inner is None else [_without(v, inner) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        sub = spec.get(k)
        if sub is not True:
            out[k] = v if sub is None else _without(v, sub)
    return out


def redact_value(value: Any, rules: list[Rule] = RULES, path: str = "", found: list | None = None) -> Any:
    """Redact every string in a JSON-like value (e.g. a rejected.jsonl entry); `found` collects (field path,
    rule). A record inside it (`record` of a rejected entry) is walked by its schema and its redaction
    block updated."""
    if isinstance(value, str):
        new, hits = redact_text(value, rules)
        if found is not None:
            found.extend((path, r) for r in hits)
        return new
    if isinstance(value, dict):
        if _RECORD_KEYS <= value.keys():
            text = json.dumps(_without(value, _PREFILTER_EXCLUDE), ensure_ascii=False)
            if not candidates(text, rules):  # the record's own prefilter: ids and hashes left out
                return value
            new, hits = redact_record_dict(value, rules)
            if found is not None:
                found.extend((_join(path, p), r) for p, r in hits)
            return new
        return {k: redact_value(v, rules, _join(path, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, rules, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def redact_rejected_entry(entry: dict[str, Any], rules: list[Rule] = RULES) -> dict[str, Any]:
    """A rejected.jsonl entry (a rejected record's, or a read error's) with nothing in clear, for the bundle
    writer, which writes entries as given. Curate calls it with every rule whatever `redact.rules` says:
    a record rejected before the redact stage ran, or a reader's excerpt of a bad line, was never
    redacted. `entry` itself comes back when no rule matched (its bytes stay as they were)."""
    found: list[tuple[str, Rule]] = []
    redacted = redact_value(entry, rules, "", found)
    return redacted if found else entry


def redact_one(sample: Sample, rules: list[Rule] = RULES) -> Sample:
    # Only the rules whose conditions the record's JSON text meets can match in any of its fields.
    rules = candidates(sample.model_dump_json(exclude=_PREFILTER_EXCLUDE), rules)
    if rules:
        data, found = redact_record_dict(sample.model_dump(mode="json"), rules)
    if not rules or not found:
        return _scanned(sample)
    data["source"]["stage"] = "redact"
    return Sample.model_validate(data)


def _scanned(sample: Sample) -> Sample:
    """The record as the stage passes it on when nothing was found: `clean` once scanned (a status a
    reader already set, e.g. `redacted` by an earlier run, stays)."""
    red = sample.redaction
    if red.status == "unscanned":
        red = red.model_copy(update={"status": "clean"})
    return sample.model_copy(update={"source": sample.source.model_copy(update={"stage": "redact"}), "redaction": red})
