"""Records in and out of augmentation: which records are augmented (and their function under test), one
candidate as a line of the work log, and a candidate as a new record with its lineage. Pure functions."""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from codesft.augment.config import NEW_TASK, AugmentConfig
from codesft.augment.prompts import template_sha256
from codesft.pairs import NotPaired, plain_messages
from codesft.schema import (
    AugmentationInfo,
    Code,
    Quality,
    Redaction,
    Sample,
    Verification,
    content_hash,
)

KEPT = "kept"  # an attempt's status once every check of its strategy held; anything else is a drop reason code


@dataclass
class Attempt:
    """One candidate of one record and strategy, generated and judged: one line of the work log."""
    parent_id: str
    strategy: str
    index: int
    operation: str
    seed: int
    raw: str = ""
    status: str = ""  # KEPT, or a reason code of codesft.bundle.reasons.AUGMENT_REASONS
    reason: str = ""
    instruction: str = ""
    solution: str = ""
    tests: str = ""
    second_raw: str = ""
    checks: dict[str, str] = field(default_factory=dict)  # sandbox verdicts: own_tests, original_solution, ...

    @property
    def key(self) -> str:
        return attempt_key(self.parent_id, self.strategy, self.index)

    def drop(self, code: str, detail: str) -> None:
        self.status, self.reason = code, detail[:300]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attempt_key(parent_id: str, strategy: str, index: int) -> str:
    return f"{parent_id}#{strategy}#{index}"


def _user_turns(s: Sample) -> list[int] | None:
    try:
        turns = plain_messages([m.model_dump() for m in s.messages])
    except NotPaired:
        return None
    return [i for i, t in enumerate(turns) if t["role"] == "user"]


def instruction_of(s: Sample) -> str:
    """The record's task: its one user turn."""
    return next(m.content for m in s.messages if m.role == "user")


def names(text: str, name: str) -> bool:
    """`name` appears in `text` as a word (`fib` in "Implement it as `fib`", not in "fibonacci")."""
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text) is not None


def top_level_functions(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def entry_point(s: Sample) -> str | None:
    """The function under test: `code.entry_point`, else the first top-level function of the solution that the
    task names, else the solution's last top-level function (helpers usually come first)."""
    if s.code is None:
        return None
    if s.code.entry_point:
        return s.code.entry_point
    defs = top_level_functions(s.code.solution or "")
    task = "\n".join(m.content for m in s.messages if m.role == "user")
    return next((d for d in defs if names(task, d)), defs[-1] if defs else None)


def why_not(s: Sample, cfg: AugmentConfig) -> str | None:
    """Why a record is not augmented (None: it is). "split" covers the records outside the chosen splits
    (never counted); the test split is never among them."""
    if s.quality.decision == "rejected" or s.split is None or s.split.assignment not in cfg.splits:
        return "split"
    if s.code is None or not s.code.tests or not s.code.solution:
        return "no_tests"
    if s.code.language != "python":
        return "not_python"
    users = _user_turns(s)
    if users is None or len(users) != 1:
        return "not_a_single_task"
    if entry_point(s) is None:
        return "no_entry_point"
    return None


def defines(code: str, name: str, language: str) -> bool:
    """Whether `code` defines the function `name` at its top level."""
    if language == "python":
        return name in top_level_functions(code)
    pattern = (rf"^(?:export\s+)?(?:async\s+)?function\s*\*?\s*{re.escape(name)}\s*\("
               rf"|^(?:export\s+)?(?:const|let|var)\s+{re.escape(name)}\s*=")
    return re.search(pattern, code, re.MULTILINE) is not None


def signature(code: str, name: str, language: str) -> str:
    """`name(params)` as `code` defines it (just `name` when its parameters cannot be read)."""
    if language == "python":
        try:
            fn = next(n for n in ast.parse(code).body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)
        except (SyntaxError, ValueError, StopIteration):
            return name
        return f"{name}({ast.unparse(fn.args)})"
    m = re.search(rf"function\s*\*?\s*{re.escape(name)}\s*\(([^)]*)\)|{re.escape(name)}\s*=\s*(?:async\s*)?"
                  rf"(?:function\s*\w*\s*)?\(([^)]*)\)", code)
    return f"{name}({' '.join((m.group(1) or m.group(2) or '').split())})" if m else name


def language_of(strategy: str, cfg: AugmentConfig) -> str:
    return cfg.target_language if strategy == "translate" else "python"


def _verification(parent: Sample, a: Attempt) -> Verification:
    if a.strategy == "rephrase":  # same solution and tests: the parent's verdict stands
        return parent.quality.verification.model_copy()
    own = a.checks.get("own_tests", "")
    # runtime_s stays 0, as curate writes it: wall-clock time would break byte-identical bundles.
    return Verification(status=own or "unverified", passed=int(own == "passed"), total=1 if own else 0,
                        reason="" if own == "passed" else a.reason)


def _info(parent: Sample, a: Attempt, cfg: AugmentConfig, parent_bundle: str) -> AugmentationInfo:
    return AugmentationInfo(
        strategy=a.strategy, operation=a.operation, parent_sample_id=parent.sample_id, parent_bundle=parent_bundle,
        teacher=cfg.teacher, engine=cfg.backend, temperature=cfg.temperature, top_p=cfg.top_p, seed=a.seed,
        prompt_template_sha256=template_sha256(a.strategy, a.operation, language_of(a.strategy, cfg)),
        difficulty_target=a.strategy if a.strategy in ("harder", "easier") else None,
        parent_difficulty=parent.metadata.difficulty,
        parent_pass_rate=parent.sampling.pass_rate if parent.sampling else None, checks=dict(sorted(a.checks.items())))


def candidate(parent: Sample, a: Attempt, cfg: AugmentConfig, parent_bundle: str) -> Sample:
    """The new record of an attempt: the parent's group, split, source and licence, a new id, the new text,
    the lineage (parent bundle, parent id) and `augmentation`. An attempt the teacher's text could not be
    parsed from keeps the parent's task with the raw answer as its answer (it only ever goes to rejected.jsonl,
    where a reviewer can read what the teacher said)."""
    s = parent.model_copy(deep=True)
    s.sample_id = content_hash(parent.sample_id, "augment", a.strategy, str(a.index))[:24]
    user = next(i for i, m in enumerate(s.messages) if m.role == "user")
    last = max(i for i, m in enumerate(s.messages) if m.role == "assistant")
    if a.instruction:
        s.messages[user] = s.messages[user].model_copy(update={"content": a.instruction})
    language = language_of(a.strategy, cfg)
    if a.strategy != "rephrase":
        answer = f"```{language}\n{a.solution.rstrip()}\n```" if a.solution else a.raw
        s.messages[last] = s.messages[last].model_copy(update={"content": answer})
        s.code = Code(language=language, solution=a.solution or None, tests=a.tests or None,
                      entry_point=entry_point(parent),
                      setup=parent.code.setup if language == "python" and parent.code else None)
        s.fault = None  # a fault made for the parent's code is no twin of the new solution
        s.metadata.language = language
        if a.strategy in NEW_TASK:
            s.metadata.difficulty = None  # a new task: unknown until measured (`codesft sample`)
    elif not a.instruction:
        s.messages[last] = s.messages[last].model_copy(update={"content": a.raw})
    s.metadata.tags = [*s.metadata.tags, f"augment:{a.strategy}"]
    s.quality = Quality(iterations=parent.quality.iterations, verification=_verification(parent, a))
    s.redaction = Redaction()  # new text: unscanned until the redact stage has looked at it
    s.dedup, s.sampling, s.export_compatibility = None, None, {}
    s.source.stage = "augment"
    s.provenance.content_hash = content_hash(s.sample_id, a.instruction, a.solution, a.tests, a.raw)
    s.provenance.lineage = [*parent.provenance.lineage, parent_bundle, parent.sample_id]
    s.augmentation = _info(parent, a, cfg, parent_bundle)
    if a.status != KEPT:
        s.quality.decision = "rejected"
        s.quality.reasons = [f"{a.status}: {a.reason}" if a.reason else a.status]
    return s
