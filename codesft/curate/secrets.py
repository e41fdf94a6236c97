"""Secret detectors for the redact stage: detect-secrets' provider plugins, our own rules where it falls short,
and an entropy check on values assigned to secret-looking names.

Every detector returns character spans; `redact_text` replaces them with `[REDACTED:<rule>]` (or
`[BLOCKED:<rule>]`). The base is detect-secrets (the detector bigcode's PII pipeline uses): we run its
regex-based provider plugins through their `denylist` patterns, which gives match positions (its
`analyze_string` only yields values, and for GitHub/GitLab tokens only the prefix group). We do not use
its `scan_line`: that path can call out to providers to verify a secret, and is line-by-line.
Own rules remain where the library falls short, each saying why.

Speed: every rule has cheap necessary conditions (`Rule.when`: literals that occur in any text it can
match, and for long provider tokens a run of 16+ word characters), so a record whose JSON text meets none
is not walked, and each field only runs the rules whose conditions it meets.
"""
# size: most of it is the rule table (one line per provider) and its prefilter, which must stay together

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from detect_secrets.filters.heuristic import is_prefixed_with_dollar_sign, is_sequential_string, is_templated_secret
from detect_secrets.plugins import (artifactory, aws, azure_storage_key, basic_auth, cloudant, discord, github_token,
                                    gitlab_token, ibm_cloud_iam, ibm_cos_hmac, jwt, mailchimp, npm, openai, pypi_token,
                                    sendgrid, slack, softlayer, square_oauth, stripe, telegram_token, twilio)
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

Span = tuple[int, int]
RUN = 16  # the run of word characters (`[\w-]`) every long provider token lies in


@dataclass(frozen=True)
class Cond:
    """A cheap necessary condition: one of `literals` occurs (none given: no literal needed) and, when
    `run` is set, a run of at least `run` word characters occurs."""
    literals: tuple[str, ...] = ()
    case: bool = False  # literals are looked up as written; otherwise lower-case, in the case-folded text
    run: int = 0
    email: bool = False  # an `@` between two characters an address can hold


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    action: str  # "redacted" or "blocked"
    when: tuple[Cond, ...]  # the rule can only match text that meets one of these
    patterns: tuple[re.Pattern[str], ...] = ()  # own patterns: group 1 is the secret, else the whole match
    plugins: tuple[type[RegexBasedDetector], ...] = ()  # detect-secrets plugins
    extend: bool = True  # widen a whole-token match to the end of the token (fixed-length library patterns)
    assignment: bool = False  # the entropy check on `secret_name = value`


def _c(regex: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(regex, flags)


def lit(*literals: str) -> Cond:
    return Cond(literals)


def cs(*literals: str, run: int = 0) -> Cond:
    return Cond(literals, True, run)


def tok(*literals: str) -> Cond:
    """A long token with a case-sensitive prefix."""
    return Cond(literals, True, RUN)


# Plugins whose capture group is the secret (assignment-style patterns). In the others a group, if any, is a
# prefix (GitHub `(ghp|gho|...)_`), so the whole match is the secret.
_GROUP_PLUGINS = {aws.AWSKeyDetector, basic_auth.BasicAuthDetector, cloudant.CloudantDetector,
                  ibm_cloud_iam.IbmCloudIamDetector, ibm_cos_hmac.IbmCosHmacDetector, softlayer.SoftlayerDetector,
                  npm.NpmDetector}

_PRIVATE_KEY = (r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)")
# Not "pass" or "_key": the record's own JSON has `passed` and `group_key` keys, and the prefilter reads it.
KEYWORDS = ("passw", "passphrase", "pwd", "secret", "token", "credential", "apikey", "api_key", "api-key",
            "accesskey", "access_key", "access-key", "authkey", "auth_key", "auth-key", "privatekey", "private_key",
            "private-key")

RULES: list[Rule] = [
    # detect-secrets' PrivateKeyDetector matches the header line only; the whole block has to go.
    Rule("private_key", "critical", "blocked", (cs("PRIVATE KEY", "PuTTY-User-Key-File"),), extend=False,
         patterns=(_c(_PRIVATE_KEY), _c(r"PuTTY-User-Key-File-\d+:[\s\S]*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)"))),
    Rule("aws_access_key", "critical", "redacted", (tok("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), lit("aws")),
         plugins=(aws.AWSKeyDetector,)),
    # detect-secrets: fixed 36 characters, no fine-grained `github_pat_` tokens.
    Rule("github_token", "critical", "redacted", (tok("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),),
         plugins=(github_token.GitHubTokenDetector,), patterns=(_c(r"github_pat_[A-Za-z0-9_]{22,255}"),)),
    Rule("gitlab_token", "critical", "redacted", (tok("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941",
                                                      "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-"),),
         plugins=(gitlab_token.GitLabTokenDetector,)),
    # Not in detect-secrets 1.5: Hugging Face, Anthropic and the other prefixed provider tokens below.
    Rule("huggingface_token", "critical", "redacted", (tok("hf_", "api_org_"),),
         patterns=(_c(r"(?<![A-Za-z0-9])(?:hf_|api_org_)[A-Za-z0-9]{30,}"),)),
    Rule("anthropic_key", "critical", "redacted", (tok("sk-ant-"),), patterns=(_c(r"sk-ant-[A-Za-z0-9_-]{20,}"),)),
    # detect-secrets knows only legacy keys (`T3BlbkFJ` in the middle), not `sk-proj-`/`sk-svcacct-` ones.
    Rule("openai_key", "critical", "redacted", (tok("sk-"),), plugins=(openai.OpenAIDetector,),
         patterns=(_c(r"(?<![A-Za-z0-9])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),)),
    Rule("google_api_key", "high", "redacted", (tok("AIza"),), patterns=(_c(r"AIza[0-9A-Za-z_-]{35}"),)),
    # detect-secrets: live secret/restricted keys of exactly 24 characters only.
    Rule("stripe_key", "high", "redacted", (tok("_live_", "_test_"),), plugins=(stripe.StripeDetector,),
         patterns=(_c(r"(?<![A-Za-z0-9])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),)),
    # detect-secrets: `services/T.../B.../...` only; workflow and trigger webhooks are missed.
    Rule("slack_webhook", "high", "redacted", (lit("hooks.slack.com"),),
         patterns=(_c(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),)),
    # detect-secrets needs digit groups (`xoxb-123-...`); newer and app-level tokens have none.
    Rule("slack_token", "high", "redacted", (lit("xox", "xapp-", "hooks.slack.com"),), plugins=(slack.SlackDetector,),
         patterns=(_c(r"(?i)(?<![a-z0-9])(?:xox[a-z]|xapp)-[A-Za-z0-9-]{10,}"),)),
    # detect-secrets has Discord bot tokens but not webhook URLs.
    Rule("discord_webhook", "high", "redacted", (lit("/api/webhooks/"),),
         patterns=(_c(r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]+"),)),
    Rule("discord_token", "high", "redacted", (Cond(run=RUN),), plugins=(discord.DiscordBotTokenDetector,)),
    Rule("jwt", "high", "redacted", (cs("eyJ"),), plugins=(jwt.JwtTokenDetector,)),
    Rule("provider_token", "high", "redacted",
         (tok("gsk_", "r8_", "dop_v1_", "doo_v1_", "dor_v1_", "shpat_", "shpca_", "shppa_", "shpss_", "lin_api_",
              "PMAK-", "NRAK-", "dapi", "dp.pt.", "pul-", "glsa_"),),
         patterns=(_c(r"(?<![A-Za-z0-9])(?:gsk_[A-Za-z0-9]{48,}|r8_[A-Za-z0-9]{30,}|do[opr]_v1_[a-f0-9]{64}"
                      r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|lin_api_[A-Za-z0-9]{40}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}"
                      r"|NRAK-[A-Z0-9]{27}|dapi[a-f0-9]{32}|dp\.pt\.[A-Za-z0-9]{40,}|pul-[a-f0-9]{40}"
                      r"|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})"),)),
    Rule("sendgrid_key", "high", "redacted", (tok("SG."),), plugins=(sendgrid.SendGridDetector,)),
    Rule("twilio_key", "high", "redacted", (tok("AC", "SK"),), plugins=(twilio.TwilioKeyDetector,)),
    Rule("telegram_token", "high", "redacted", (Cond(run=RUN),), plugins=(telegram_token.TelegramBotTokenDetector,)),
    Rule("mailchimp_key", "high", "redacted", (tok("-us"),), plugins=(mailchimp.MailchimpDetector,)),
    Rule("npm_token", "high", "redacted", (cs("_authToken"),), plugins=(npm.NpmDetector,)),
    Rule("pypi_token", "high", "redacted", (tok("pypi-"),), plugins=(pypi_token.PypiTokenDetector,)),
    Rule("azure_storage_key", "high", "redacted", (cs("AccountKey="),),
         plugins=(azure_storage_key.AzureStorageKeyDetector,)),
    Rule("square_oauth", "high", "redacted", (tok("sq0csp-"),), plugins=(square_oauth.SquareOAuthDetector,)),
    Rule("artifactory_token", "high", "redacted", (cs("AKC", "AP", run=11),),
         plugins=(artifactory.ArtifactoryDetector,)),
    Rule("ibm_cloud_key", "high", "redacted", (Cond(("key", "pwd", "pass", "token"), run=RUN),),
         plugins=(ibm_cloud_iam.IbmCloudIamDetector, ibm_cos_hmac.IbmCosHmacDetector)),
    Rule("cloudant_credentials", "high", "redacted", (Cond(("cl",), run=RUN),), plugins=(cloudant.CloudantDetector,)),
    Rule("softlayer_key", "high", "redacted", (Cond(("sl", "softlayer"), run=RUN),),
         plugins=(softlayer.SoftlayerDetector,)),
    # detect-secrets' BasicAuthDetector refuses passwords with `&`, `!`, `$`, `(`...; ours takes any but `@`, `/`.
    Rule("url_password", "high", "redacted", (lit("://"),), plugins=(basic_auth.BasicAuthDetector,), extend=False,
         patterns=(_c(r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@"),)),
    # detect-secrets' KeywordDetector: first match per line only, and its unquoted forms take code
    # (`password: str) -> bool:`) for secrets; this rule adds entropy checks instead.
    Rule("password_assignment", "high", "redacted", (Cond(KEYWORDS),), extend=False, assignment=True),
    Rule("email", "medium", "redacted", (Cond(email=True),), extend=False,
         # Starts only where a run of address characters starts: a start inside a long run would rescan it
         # (quadratic time on a long line).
         patterns=(_c(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),)),
]
RULE_NAMES = [r.name for r in RULES]

# --- cheap necessary conditions ----------------------------------------------------------------------------

# `re` with IGNORECASE matches these non-ASCII characters to ASCII letters; fold them before lower() so an
# anchor check on the folded text never misses what a case-insensitive pattern matches.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
# ASCII text: word characters -> "a", the rest -> " ", then a run is a substring (a regex is ~20x slower).
_RUN_TABLE = bytes(0x61 if chr(i).isalnum() or chr(i) in "_-" else 0x20 for i in range(128)) + b" " * 128
_EMAIL_LEFT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_RIGHT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


def _has_email_anchor(text: str) -> bool:
    i = text.find("@")
    while i != -1:
        if 0 < i < len(text) - 1 and text[i - 1] in _EMAIL_LEFT and text[i + 1] in _EMAIL_RIGHT:
            return True
        i = text.find("@", i + 1)
    return False


def _has_run(text: str, n: int) -> bool:
    if text.isascii():
        return b"a" * n in text.encode("ascii").translate(_RUN_TABLE)
    return re.search(rf"[\w-]{{{n}}}", text) is not None  # `\d`/`\w` in library patterns take non-ASCII too


def _compile_checks(rules: list[Rule]) -> tuple[list[tuple[str, bool, frozenset[str]]],
                                                 dict[int, list[tuple[str, bool, frozenset[str]]]],
                                                 dict[int, frozenset[str]], frozenset[str]]:
    """The conditions as flat tables, each literal once: (literal, case-sensitive, rule names)."""
    plain: dict[tuple[str, bool], set[str]] = {}
    by_run: dict[int, dict[tuple[str, bool], set[str]]] = {}
    run_only: dict[int, set[str]] = {}
    email: set[str] = set()
    for rule in rules:
        for c in rule.when:
            if c.email:
                email.add(rule.name)
            elif not c.literals:
                run_only.setdefault(c.run, set()).add(rule.name)
            for lit in c.literals:
                table = by_run.setdefault(c.run, {}) if c.run else plain
                table.setdefault((lit, c.case), set()).add(rule.name)

    def flat(t: dict[tuple[str, bool], set[str]]) -> list[tuple[str, bool, frozenset[str]]]:
        return [(lit, case, frozenset(names)) for (lit, case), names in t.items()]

    return (flat(plain), {n: flat(t) for n, t in sorted(by_run.items())},
            {n: frozenset(v) for n, v in run_only.items()}, frozenset(email))


_PLAIN, _BY_RUN, _RUN_ONLY, _EMAIL_RULES = _compile_checks(RULES)
# The `*key` names are looked for only when some "key" is not the record's own `group_key` key (one check
# instead of twelve on most records).
_KEYED = [c for c in _PLAIN if not c[1] and "key" in c[0]]
_PLAIN = [c for c in _PLAIN if c not in _KEYED]
_RUNS = sorted(set(_BY_RUN) | set(_RUN_ONLY))
_MIN_MATCH = 6  # no rule matches fewer characters (`a@b.cd`)


def candidates(text: str, rules: Iterable[Rule]) -> list[Rule]:
    """The rules whose necessary conditions `text` meets (a superset of the rules that match in it). `text`
    may be a field or a record's JSON text: the conditions hold in both, since no literal holds a character
    JSON escapes. JSON escapes (`\\u0073k-`, `https:\\/\\/`) hide literals, so such text meets every rule."""
    if len(text) < _MIN_MATCH:
        return []
    if "\\u" in text or "\\/" in text:
        return list(rules)
    low = text.lower() if text.isascii() else text.translate(_FOLD).lower()
    names: set[str] = set()
    for lit, case, rn in _PLAIN:
        if lit in (text if case else low):
            names |= rn
    if low.count("key") > low.count("group_key"):
        for lit, _, rn in _KEYED:
            if lit in low:
                names |= rn
    if _has_email_anchor(text):
        names |= _EMAIL_RULES
    for n in _RUNS:  # ascending: without a short run there is no long one
        if not _has_run(text, n):
            break
        names |= _RUN_ONLY.get(n, frozenset())
        for lit, case, rn in _BY_RUN.get(n, ()):
            if lit in (text if case else low):
                names |= rn
    return [r for r in rules if r.name in names]


# --- finding spans -----------------------------------------------------------------------------------------

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=")
_TRIM_LEFT, _TRIM_RIGHT = " \t\r\n\"'=:", " \t\r\n\"'"
_VALIDATING = {cls for cls in (jwt.JwtTokenDetector,) if cls.analyze_string is not RegexBasedDetector.analyze_string}
_PLUGIN_INSTANCES: dict[type, RegexBasedDetector] = {}


def _whole(text: str, m: re.Match[str], extend: bool) -> Span:
    start, end = m.span()
    while start < end and text[start] in _TRIM_LEFT:
        start += 1
    while end > start and text[end - 1] in _TRIM_RIGHT:
        end -= 1
    if extend:  # fixed-length library patterns stop inside longer tokens: the rest must not stay in clear
        while end < len(text) and text[end] in _TOKEN_CHARS:
            end += 1
    return start, end


def _pattern_spans(text: str, pattern: re.Pattern[str], use_groups: bool, extend: bool,
                   plugin: type | None = None) -> Iterable[Span]:
    for m in pattern.finditer(text):
        if plugin in _VALIDATING:  # e.g. a JWT's header and payload must decode to JSON
            inst = _PLUGIN_INSTANCES.setdefault(plugin, plugin())
            if not any(True for _ in inst.analyze_string(m.group(0))):
                continue
        if use_groups and pattern.groups:
            yield from (m.span(g) for g in range(1, pattern.groups + 1) if m.group(g))
        else:
            yield _whole(text, m, extend)


def find_spans(text: str, rule: Rule) -> list[Span]:
    spans: list[Span] = []
    for plugin in rule.plugins:
        for pattern in plugin.denylist:
            spans.extend(_pattern_spans(text, pattern, plugin in _GROUP_PLUGINS, rule.extend, plugin))
    for pattern in rule.patterns:
        spans.extend(_pattern_spans(text, pattern, True, rule.extend))
    if rule.assignment:
        spans.extend(assignment_spans(text))
    return _merge(spans)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


# --- assignments to secret-looking names -------------------------------------------------------------------

_NAME_KEYWORD = (r"(passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|private[_-]?key"
                 r"|credentials?)")
_ASSIGN = re.compile(
    r"(?i)" + _NAME_KEYWORD + r"([A-Za-z0-9_-]*)[\"'`\]]{0,2}"  # name (suffix), closing quote/bracket
    r"[ \t]*(?:\r?\n[ \t]*)?(?::=|=>|=(?!=)|:(?![:/]))[ \t]*(?:\r?\n[ \t]*)?"  # `=`, `:`, `:=`, `=>`; not `==`
    r"""(?:(["'`])([^"'`\s]{1,512})\3|([^\s"'`,;(){}\[\]<>]{1,512}))""")
_SECRET_KEY = re.compile(r"(?i)" + _NAME_KEYWORD + r"([A-Za-z0-9_-]*)$")
# Names that hold something about a secret, not the secret (`token_type`, `password_url`, `secret_name`).
_NOT_SECRET_SUFFIX = re.compile(
    r"(?i)[_-]?(?:s?_?(?:url|uri|endpoint|path|file|filename|dir|type|name|len|length|count|size|limit|max|min|"
    r"field|header|env|var|prefix|suffix|regex|pattern|id|ids|index|idx|kind|format|label|policy"
    r"|expires?_?(?:in|at)?))$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_NUMBER = re.compile(r"[-+]?[\d_.,]+(?:[eE][-+]?\d+)?")
_PLACEHOLDER = re.compile(r"\[(?:REDACTED|BLOCKED):\w+\]")
_ENTROPY = Base64HighEntropyString()
_PREFIX_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


def _entropy(value: str) -> float:
    return _ENTROPY.calculate_shannon_entropy(value)


def _placeholder_like(value: str) -> bool:
    """Not a secret: a template, a variable, a mask, a redaction mark, a plain URL or a path."""
    return (is_templated_secret(value) or is_prefixed_with_dollar_sign(value) or value[0] in "%[(/~"
            or value.startswith("./") or len(set(value)) == 1 or is_sequential_string(value)
            or "[REDACTED:" in value or "[BLOCKED:" in value or ("://" in value and "@" not in value))


def literal_is_secret(keyword: str, value: str) -> bool:
    """A quoted (or JSON string) value assigned to a secret-looking name."""
    if len(value) < 4 or _placeholder_like(value) or _entropy(value) < 1.5:
        return False
    # `token = "hello"` is NLP code and `secret_word = "banana"` a game; API tokens are never plain words.
    return not (keyword.lower().startswith(("token", "secret")) and value.isalpha())


def _bare_is_secret(name: str, value: str, after: str) -> bool:
    """An unquoted value: most are code (`password = get_password()`, `token: str`), so stricter."""
    if (after and after in "([.") or len(value) < 6 or _placeholder_like(value) or _NUMBER.fullmatch(value) \
            or _DOTTED.fullmatch(value):
        return False
    if _IDENT.fullmatch(value):  # looks like a variable: only env-style `DB_PASSWORD=hunter22` or random-looking
        env_style = name.isupper() and any(c.isdigit() for c in value)
        return env_style or (len(value) >= 16 and _entropy(value) >= 3.5)
    return _entropy(value) >= 2.5


def _name_prefix(text: str, start: int) -> str:
    i = start
    while i > 0 and start - i < 64 and text[i - 1] in _PREFIX_CHARS:
        i -= 1
    return text[i:start]


def assignment_spans(text: str) -> Iterable[Span]:
    for m in _ASSIGN.finditer(text):
        keyword, suffix = m.group(1), m.group(2)
        if _NOT_SECRET_SUFFIX.fullmatch(suffix) and suffix:
            continue
        name = _name_prefix(text, m.start()) + keyword + suffix
        if m.group(4) is not None:
            if literal_is_secret(keyword, m.group(4)):
                yield m.span(4)
        else:
            after = text[m.end(5):m.end(5) + 1]
            if _bare_is_secret(name, m.group(5), after):
                yield m.span(5)


def secret_key(key: str) -> str | None:
    """The keyword when a JSON object key names a secret (`api_key`, `DB_PASSWORD`), else None."""
    m = _SECRET_KEY.search(key)
    if m is None or (m.group(2) and _NOT_SECRET_SUFFIX.fullmatch(m.group(2))):
        return None
    return m.group(1)


# --- redaction ---------------------------------------------------------------------------------------------

def mark(rule: Rule) -> str:
    return f"[{'BLOCKED' if rule.action == 'blocked' else 'REDACTED'}:{rule.name}]"


def _outside_marks(text: str, spans: list[Span]) -> list[Span]:
    """Drop spans that touch an existing `[REDACTED:...]` mark, so redacting twice changes nothing."""
    if "[REDACTED:" not in text and "[BLOCKED:" not in text:
        return spans
    marks = [m.span() for m in _PLACEHOLDER.finditer(text)]
    return [(s, e) for s, e in spans if not any(s < me and ms < e for ms, me in marks)]


def redact_plain(text: str, rules: Iterable[Rule]) -> tuple[str, list[Rule]]:
    """Apply `rules` in order, each to the output of the previous; (text, rules that fired)."""
    hits: list[Rule] = []
    for rule in candidates(text, rules):
        spans = _outside_marks(text, find_spans(text, rule))
        if not spans:
            continue
        hits.append(rule)
        parts, last = [], 0
        for s, e in spans:
            parts += [text[last:s], mark(rule)]
            last = e
        text = "".join(parts) + text[last:]
    return text, hits


_ESCAPE = re.compile(r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
                     r"|u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_one(m: re.Match[str]) -> str:
    hi, lo, cp, ch = m.groups()
    if hi:
        return chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + (int(lo, 16) - 0xDC00))
    if cp:
        code = int(cp, 16)
        return m.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate cannot be written out
    return _SIMPLE[ch]


def json_unescape(text: str) -> str:
    """Decode JSON string escapes (`\\u0073k-`, `https:\\/\\/`, `\\"`) in text that is not itself valid JSON."""
    return _ESCAPE.sub(_unescape_one, text)


_DECODE_LEVELS = 3  # JSON inside a JSON string inside a JSON string


def redact_text(text: str, rules: Iterable[Rule] = RULES) -> tuple[str, list[Rule]]:
    """(redacted text, rules that fired). Text with JSON escapes is also scanned decoded, up to three levels
    deep: when a decoded form holds a secret the form above hid, that decoded, redacted form is returned (its
    escapes are lost; the alternative is the secret in clear once anything decodes it)."""
    rules = list(rules)
    out, hits = redact_plain(text, rules)
    level = out
    for _ in range(_DECODE_LEVELS):
        if "\\" not in level:
            break
        decoded = json_unescape(level)
        if decoded == level:
            break
        dec_out, dec_hits = redact_plain(decoded, rules)
        if dec_hits:
            out, hits = dec_out, hits + [r for r in dec_hits if r not in hits]
        level = dec_out
    return out, hits
