"""score: correctness, completeness, consistency and safety in [0, 1]; total on 0-100.

correctness comes from verification; safety from bandit on the solution; the other two are
structural checks whose failures are listed in `quality.warnings` so a low score explains itself.
"""

from __future__ import annotations

import ast
import re
from typing import Iterable, Iterator

from codesft.curate.config import ScoreConfig
from codesft.curate.normalize import extract_code_blocks
from codesft.curate.safety import bandit_findings, safety_score
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


def consistency(s: Sample) -> float:
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
            try:
                tree = ast.parse(c.solution)
                ok = True
            except (SyntaxError, ValueError):
                tree, ok = None, False
            checks["solution parses"] = ok
            if c.entry_point and tree is not None:
                defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
                checks["entry point is defined"] = c.entry_point in defined
        if c.before is not None:
            checks["fix changes the code"] = c.before.strip() != sol
    return _ratio(checks, s, "consistency")


def correctness(s: Sample, cfg: ScoreConfig) -> float:
    v = s.quality.verification
    if v.status == "unverified":
        return cfg.unverified_credit
    if v.status != "passed":
        s.quality.warnings.append(f"correctness: {v.status} {v.reason[:200]}".rstrip())
        return 0.0
    if v.before_status == "passed":
        return 0.8  # the fix passes but the tests do not tell it apart from the bug
    return 1.0


def safety(s: Sample, cfg: ScoreConfig) -> float:
    c = s.code
    if not c or not c.solution:
        return 1.0
    if c.language != "python":
        s.quality.warnings.append(f"safety: no static analyzer for {c.language}")
        return 1.0
    findings = bandit_findings(c.solution, tuple(cfg.bandit_skip))
    if findings is None:
        return 1.0  # unparsable code is a consistency problem, already counted there
    for test_id, sev, conf in findings:
        s.quality.warnings.append(f"safety: bandit {test_id} severity {sev} confidence {conf}")
        if cfg.veto_high_severity and sev == "HIGH" and conf == "HIGH":
            s.quality.veto = True
            s.quality.reasons.append(f"veto: bandit {test_id} HIGH severity")
    return safety_score(findings)


def score_one(sample: Sample, cfg: ScoreConfig) -> Sample:
    s = sample.model_copy(deep=True)
    s.source.stage = "score"
    if s.quality.decision == "rejected":
        return s
    s.quality.warnings = [w for w in s.quality.warnings if w.startswith("verify:")]
    dims = {"correctness": correctness(s, cfg), "completeness": completeness(s),
            "consistency": consistency(s), "safety": safety(s, cfg)}
    weights = {k: getattr(cfg, k) for k in dims}
    total_w = sum(weights.values()) or 1.0
    s.quality.dimensions = {k: round(v, 4) for k, v in dims.items()}
    s.quality.score = round(100.0 * sum(weights[k] * dims[k] for k in dims) / total_w, 2)
    s.quality.token_estimate = token_estimate(s)
    c = s.code
    s.quality.has_code_pair = bool(c and c.solution and (c.tests or c.before))
    return s


def score(samples: Iterable[Sample], cfg: ScoreConfig) -> Iterator[Sample]:
    for s in samples:
        yield score_one(s, cfg)
