"""redact: secrets and personal data out of every text field of the record.

Each rule is (name, pattern, severity, action). `redacted` rules replace the match with
`[REDACTED:<rule>]`; `blocked` rules (private keys) also replace the match and mark the whole
record blocked, so the gate rejects it. Strings are walked recursively over the record's JSON
form, so a field added to the schema later is covered without touching this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from codesft.curate.config import RedactConfig
from codesft.schema import Finding, Redaction, Sample


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    severity: str
    action: str  # "redacted" or "blocked"
    group: int = 0  # the capture group that holds the secret (0: the whole match)


def _r(name: str, regex: str, severity: str, action: str = "redacted", group: int = 0, flags: int = 0) -> Rule:
    return Rule(name, re.compile(regex, flags), severity, action, group)


RULES: list[Rule] = [
    _r("private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
       "critical", "blocked"),
    _r("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b", "critical"),
    _r("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b", "critical"),
    _r("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}\b", "critical"),
    _r("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b", "high"),
    _r("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", "high"),
    _r("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}", "high"),
    _r("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", "high"),
    _r("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", "high"),
    _r("url_password", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@", "high", group=1),
    _r("password_assignment",
       r"""(?i)\b(?:password|passwd|pwd|secret|api_key|apikey|token)\b["']?\s*[:=]\s*(["'])([^"'\s]{4,})\1""",
       "high", group=2),
    _r("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", "medium"),
]
RULE_NAMES = [r.name for r in RULES]
_PLACEHOLDER = re.compile(r"^\[(?:REDACTED|BLOCKED):\w+\]$")
# Fields that hold ids/hashes we generated ourselves; scanning them only costs time.
_SKIP = {"sample_id", "content_hash", "schema_version", "role", "decision", "status", "assignment", "strategy"}


# Necessary conditions, one per rule: a literal every match of the rule contains, none of whose characters
# JSON escapes (quotes, backslashes, control characters). When none occurs anywhere in the record's JSON
# text, no rule can match any of its strings and the field-by-field walk is skipped. A hit only means
# "walk the record"; the rules themselves decide. Email and the password keywords are checked apart
# (below): a case-insensitive alternation or a leading character class makes `re` scan ~100x slower.
_ANCHORS: dict[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",), "aws_access_key": tuple("A" + p for p in ("KIA", "SIA", "GPA", "IDA", "ROA", "NPA", "NVA", "IPA")),
    "github_token": tuple(f"gh{c}_" for c in "pousr") + ("github_pat_",), "openai_key": ("sk-",),
    "stripe_key": ("_live_", "_test_"), "slack_token": tuple(f"xox{c}-" for c in "abposr"),
    "slack_webhook": ("hooks.slack.com",), "google_api_key": ("AIza",), "jwt": ("eyJ",), "url_password": ("://",),
}
_KEYWORDS = ("password", "passwd", "pwd", "secret", "api_key", "apikey", "token")
_KEYWORDS_ANY = re.compile(r"(?i)password|passwd|pwd|secret|api_key|apikey|token")  # non-ASCII: re's own folding
_EMAIL_LEFT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_RIGHT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
assert set(_ANCHORS) | {"password_assignment", "email"} == {r.name for r in RULES}


def _has_email_anchor(text: str) -> bool:
    i = text.find("@")
    while i != -1:
        if 0 < i < len(text) - 1 and text[i - 1] in _EMAIL_LEFT and text[i + 1] in _EMAIL_RIGHT:
            return True
        i = text.find("@", i + 1)
    return False


def _has_keyword_anchor(low: str) -> bool:
    """A keyword not followed by a word character, in ASCII text already lower-cased."""
    for k in _KEYWORDS:
        i = low.find(k)
        while i != -1:
            j = i + len(k)
            if j >= len(low) or not (low[j].isalnum() or low[j] == "_"):
                return True
            i = low.find(k, i + 1)
    return False


def may_match(text: str, rules: list[Rule]) -> bool:
    """False only when no rule in `rules` can match any string inside `text` (a record's JSON)."""
    for rule in rules:
        anchors = _ANCHORS.get(rule.name)
        if anchors is not None:
            if any(a in text for a in anchors):
                return True
        elif rule.name == "email":
            if _has_email_anchor(text):
                return True
        elif rule.name == "password_assignment":
            if not text.isascii():
                if _KEYWORDS_ANY.search(text):
                    return True
                continue
            if _has_keyword_anchor(text.lower()):
                return True
        else:  # a rule without a known anchor: always walk
            return True
    return False


def active_rules(cfg: RedactConfig | None) -> list[Rule]:
    if cfg is None or cfg.rules is None:
        return RULES
    unknown = set(cfg.rules) - set(RULE_NAMES)
    if unknown:
        raise ValueError(f"unknown redaction rule(s): {', '.join(sorted(unknown))}")
    return [r for r in RULES if r.name in cfg.rules]


def redact_text(text: str, rules: list[Rule] = RULES) -> tuple[str, list[Rule]]:
    """(redacted text, rules that fired)."""
    hits: list[Rule] = []
    for rule in rules:
        if rule.group == 0:
            text, n = rule.pattern.subn(lambda m, r=rule: _mark(r), text)
        else:
            n = 0

            def repl(m: re.Match[str], r: Rule = rule) -> str:
                nonlocal n
                if _PLACEHOLDER.match(m.group(r.group)):
                    return m.group(0)
                n += 1
                start, end = m.span(r.group)
                return m.group(0)[: start - m.start()] + _mark(r) + m.group(0)[end - m.start():]

            text = rule.pattern.sub(repl, text)
        if n:
            hits.append(rule)
    return text, hits


def _mark(rule: Rule) -> str:
    return f"[{'BLOCKED' if rule.action == 'blocked' else 'REDACTED'}:{rule.name}]"


def redact_value(value: Any, rules: list[Rule] = RULES, path: str = "", found: list | None = None) -> Any:
    """Redact every string in a JSON-like value; `found` collects (field path, rule)."""
    if isinstance(value, str):
        new, hits = redact_text(value, rules)
        if found is not None:
            found.extend((path, r) for r in hits)
        return new
    if isinstance(value, dict):
        return {k: (v if k in _SKIP else redact_value(v, rules, f"{path}.{k}" if path else k, found))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, rules, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def redact_one(sample: Sample, rules: list[Rule] = RULES) -> Sample:
    if not may_match(sample.model_dump_json(exclude={"redaction"}), rules):
        return sample.model_copy(update={"source": sample.source.model_copy(update={"stage": "redact"})})
    data = sample.model_dump(mode="json", exclude={"redaction"})
    found: list[tuple[str, Rule]] = []
    data = redact_value(data, rules, "", found)
    prior = sample.redaction
    if not found:
        out = sample.model_copy()
        out.source = sample.source.model_copy(update={"stage": "redact"})
        return out
    findings = list(prior.findings) + [Finding(kind=r.name, severity=r.severity, field_path=p, action=r.action)
                                       for p, r in found]
    blocked = prior.status == "blocked" or any(r.action == "blocked" for _, r in found)
    data["redaction"] = Redaction(
        status="blocked" if blocked else "redacted",
        applied_rules=sorted(set(prior.applied_rules) | {r.name for _, r in found}),
        findings=findings,
        redacted_fields=sorted(set(prior.redacted_fields) | {p for p, _ in found}),
    ).model_dump(mode="json")
    data["source"]["stage"] = "redact"
    return Sample.model_validate(data)


def redact(samples: Iterable[Sample], cfg: RedactConfig | None = None) -> Iterator[Sample]:
    rules = active_rules(cfg)
    enabled = cfg is None or cfg.enabled
    for s in samples:
        yield redact_one(s, rules) if enabled else s
