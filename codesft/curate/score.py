"""score: correctness, completeness, consistency and safety in [0, 1]; total on 0-100.

correctness comes from verification (unverified records get `unverified_credit`, 0 by default: unknown
is not correct); safety from bandit on the solution (screened in batches by
ruff's port of bandit's rules, see `safety.py`); the other two are structural checks whose failures
are listed in `quality.warnings` so a low score explains itself. `score_batch` is the fast path:
one ruff process per batch and one parse per solution; `score_one` is a batch of one.
"""

from __future__ import annotations

import ast
import re
import types
import warnings

from codesft.curate.config import ScoreConfig
from codesft.curate.gate import fork
from codesft.curate.normalize import extract_code_blocks
from codesft.curate.safety import Findings, analyze_batch, safety_score
from codesft.schema import Sample

CODE_CATEGORIES = {"code_generation", "review_repair", "commit"}
CHARS_PER_TOKEN = 4  # rough estimate for code/English mixes; the trainer measures real token counts


def token_estimate(s: Sample) -> int:
    chars = sum(len(m.content) + sum(len(c.function.arguments) for c in (m.tool_calls or [])) for m in s.messages)
    return -(-chars // CHARS_PER_TOKEN)


def _ratio(checks: dict[str, bool], s: Sample, dim: str) -> float:
    for name, ok in checks.items():
        if not ok:
            s.quality.warnings.append(f"{dim}: {name}")
    return sum(checks.values()) / len(checks) if checks else 1.0


def completeness(s: Sample) -> float:
    users = [m for m in s.messages if m.role == "user" and m.content.strip()]
    answers = [m for m in s.messages if m.role == "assistant" and (m.content.strip() or m.tool_calls)]
    checks = {
        "has a question": bool(users),
        "question is specific (>= 20 characters)": bool(users) and len(users[0].content) >= 20,
        "has an answer": bool(answers),
        "answer ends the conversation": bool(s.messages) and s.messages[-1].role == "assistant",
        "answer fences are closed": all(m.content.count("```") % 2 == 0 for m in answers),
    }
    if s.metadata.category in CODE_CATEGORIES:
        checks["has code"] = bool(s.code and s.code.solution)
    if s.metadata.category in ("code_generation", "review_repair"):
        checks["has tests"] = bool(s.code and s.code.tests)
    if s.metadata.category == "review_repair":
        checks["answer explains the fix"] = any(len(re.sub(r"```.*?```", "", m.content, flags=re.S).strip()) >= 20
                                                for m in answers)
    return _ratio(checks, s, "completeness")


_UNPARSED = object()


def parse_python(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


class ParsedPython:
    """A Python solution that parses. `compile` to bytecode costs ~1/3 of `ast.parse` (no Python AST
    objects are built), and a successful compile implies that `ast.parse` succeeds; the names of every
    function and class defined anywhere in the code are the `co_name`s of its nested code objects. A name
    not found there (e.g. a def the compiler dropped as dead code) is looked up in the AST, so
    `defines` answers exactly what the AST walk answers."""

    __slots__ = ("_tree", "names", "source")

    def __init__(self, source: str, names: frozenset[str], tree: ast.Module | None = None):
        self.source, self.names, self._tree = source, names, tree

    @property
    def tree(self) -> ast.Module:
        if self._tree is None:
            self._tree = ast.parse(self.source)
        return self._tree

    def defines(self, name: str) -> bool:
        return name in self.names or _defines(self.tree, name)


def _code_names(code: types.CodeType, out: set[str]) -> set[str]:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name.isidentifier():  # def/class names; not <lambda>, <listcomp>, <genexpr>, ...
                out.add(const.co_name)
            _code_names(const, out)
    return out


def check_python(code: str) -> ParsedPython | None:
    """`parse_python` for callers that need only "does it parse" and "which names does it define"."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # compiler-only warnings (e.g. `is` with a literal) stay silent
            compiled = compile(code, "<solution>", "exec", dont_inherit=True)
    except Exception:  # noqa: BLE001 - SyntaxError, or anything else the compiler (not the parser) raises
        tree = parse_python(code)  # the parser decides, exactly as before
        return None if tree is None else ParsedPython(code, frozenset(), tree)
    return ParsedPython(code, frozenset(_code_names(compiled, set())))


def _defines(tree: ast.Module, name: str) -> bool:
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if any(isinstance(n, defs) and n.name == name for n in tree.body):  # the usual case, without a full walk
        return True
    return any(isinstance(n, defs) and n.name == name for n in ast.walk(tree))


def consistency(s: Sample, tree=_UNPARSED) -> float:
    checks: dict[str, bool] = {}
    # An assistant turn that only calls tools is part of the same answer as the turn after the tool result.
    roles = [m.role for m in s.messages if m.role == "user" or (m.role == "assistant" and not m.tool_calls)]
    checks["user and assistant turns alternate"] = all(a != b for a, b in zip(roles, roles[1:]))
    calls = {c.id for m in s.messages for c in (m.tool_calls or [])}
    answered = {m.tool_call_id for m in s.messages if m.role == "tool"}
    if calls or answered:
        checks["every tool call is answered"] = calls <= answered and answered <= calls
        if s.tools:
            names = {t.get("function", {}).get("name") for t in s.tools}
            checks["tool calls name defined tools"] = all(c.function.name in names for m in s.messages
                                                          for c in (m.tool_calls or []))
    c = s.code
    if c and c.solution:
        answer = s.assistant_text()
        blocks = [code for _, code in extract_code_blocks(answer)]
        sol = c.solution.strip()
        checks["answer contains the solution"] = any(b.strip() == sol or sol in b for b in blocks) or sol in answer
        if c.language == "python":
            if tree is _UNPARSED:
                tree = parse_python(c.solution)
            checks["solution parses"] = tree is not None
            if c.entry_point and tree is not None:
                checks["entry point is defined"] = (tree.defines(c.entry_point) if isinstance(tree, ParsedPython)
                                                    else _defines(tree, c.entry_point))
        if c.before is not None:
            checks["fix changes the code"] = c.before.strip() != sol
    return _ratio(checks, s, "consistency")


def correctness(s: Sample, cfg: ScoreConfig) -> float:
    v = s.quality.verification
    if v.status == "unverified":
        # Unknown is not correct: no credit by default, so the score shows it (the gate's `unverified` policy
        # decides whether such a record is kept).
        s.quality.warnings.append(f"correctness: unverified ({v.reason or 'not executed'}), credit {cfg.unverified_credit:g}")
        return cfg.unverified_credit
    if v.status != "passed":
        s.quality.warnings.append(f"correctness: {v.status} {v.reason[:200]}".rstrip())
        return 0.0
    if v.before_status == "passed":
        return 0.8  # the fix passes but the tests do not tell it apart from the bug
    return 1.0


def _needs_analysis(s: Sample) -> bool:
    c = s.code
    return bool(c and c.solution and c.language == "python" and s.quality.decision != "rejected")


def safety(s: Sample, cfg: ScoreConfig, findings: Findings | None = None) -> float:
    """`findings`: this solution's bandit findings from `analyze_batch` (None: does not parse)."""
    c = s.code
    if not c or not c.solution:
        return 1.0
    if c.language != "python":
        s.quality.warnings.append(f"safety: no static analyzer for {c.language}")
        return 1.0
    if findings is None:
        return 1.0  # unparsable code is a consistency problem, already counted there
    for test_id, sev, conf in findings:
        s.quality.warnings.append(f"safety: bandit {test_id} severity {sev} confidence {conf}")
        if cfg.veto_high_severity and sev == "HIGH" and conf == "HIGH":
            s.quality.veto = True
            s.quality.reasons.append(f"veto: bandit {test_id} HIGH severity")
    return safety_score(findings)


def _score(sample: Sample, cfg: ScoreConfig, tree, findings: Findings | None) -> Sample:
    s = fork(sample, "score")
    if s.quality.decision == "rejected":
        return s
    s.quality.warnings = [w for w in s.quality.warnings if w.startswith("verify:")]
    dims = {"correctness": correctness(s, cfg), "completeness": completeness(s),
            "consistency": consistency(s, tree), "safety": safety(s, cfg, findings)}
    weights = {k: getattr(cfg, k) for k in dims}
    total_w = sum(weights.values()) or 1.0
    s.quality.dimensions = {k: round(v, 4) for k, v in dims.items()}
    s.quality.score = round(100.0 * sum(weights[k] * dims[k] for k in dims) / total_w, 2)
    s.quality.token_estimate = token_estimate(s)
    c = s.code
    s.quality.has_code_pair = bool(c and c.solution and (c.tests or c.before))
    return s


def score_batch(samples: list[Sample], cfg: ScoreConfig) -> list[Sample]:
    """Score a batch: one parse per Python solution, one ruff process for the batch's safety screen."""
    todo = [i for i, s in enumerate(samples) if _needs_analysis(s)]
    trees = {i: check_python(samples[i].code.solution) for i in todo}
    parsed = [i for i in todo if trees[i] is not None]
    found = analyze_batch([samples[i].code.solution for i in parsed], tuple(cfg.bandit_skip),
                          prefilter=cfg.safety_prefilter, parsed=True)
    findings = dict(zip(parsed, found))
    return [_score(s, cfg, trees.get(i, _UNPARSED), findings.get(i)) for i, s in enumerate(samples)]


def score_one(sample: Sample, cfg: ScoreConfig) -> Sample:
    return score_batch([sample], cfg)[0]
