"""A record after sampling: the kept answer in place of the reference, the pass rate, the difficulty bin and
the natural fault. Pure: the same record and answers give the same result, whatever order they came in."""

from __future__ import annotations

from codesft.sample.answers import (
    RESOLVE_INDEX,
    Answer,
    answer_text,
    distinct,
    nearest_fault,
    rank,
)
from codesft.sample.config import SampleConfig
from codesft.schema import Sample, SamplingInfo, content_hash

# Difficulty bins of metadata.difficulty, from the pass rate over the k self-samples (docs/sample.md).
DIFFICULTY_BINS = ((1.0, "solved"), (0.75, "easy"), (0.25, "medium"), (1e-12, "hard"), (0.0, "unsolved"))


def difficulty(pass_rate: float) -> str:
    return next(name for low, name in DIFFICULTY_BINS if pass_rate >= low)


def _replace_answer(s: Sample, text: str) -> None:
    last = max(i for i, m in enumerate(s.messages) if m.role == "assistant")
    s.messages[last] = s.messages[last].model_copy(update={"content": text})


def sampled_record(s: Sample, answers: list[Answer], cfg: SampleConfig, engine: str, prompt_hash: str,
                   barred: frozenset[int] = frozenset()) -> Sample:
    """A copy of `s` with its sampling outcome (answers: its k self-samples and, if drawn, the re-solve).
    `barred`: indexes of passing answers that may not be kept (they failed a gate); they still count."""
    s = s.model_copy(deep=True)
    own = sorted((a for a in answers if a.index != RESOLVE_INDEX), key=lambda a: a.index)
    resolve = next((a for a in answers if a.index == RESOLVE_INDEX), None)
    passing = [a for a in own if a.passed]
    keepable = [a for a in passing if a.index not in barred]
    if resolve is not None and (not resolve.passed or resolve.index in barred):
        resolve = None
    kept = rank(keepable, cfg.selection)[0] if keepable else resolve
    # A bundle sampled again keeps the first reference: the answer it replaces may be an earlier self-sample.
    prior = s.sampling
    last = max(i for i, m in enumerate(s.messages) if m.role == "assistant")
    reference_answer = prior.reference_answer if prior else s.messages[last].content
    reference_solution = prior.reference_solution if prior else (s.code.solution if s.code else None)
    failures: dict[str, int] = {}
    for a in answers:
        if not a.passed:
            failures[a.status] = failures.get(a.status, 0) + 1
    origin = "reference" if kept is None else ("resolved" if kept.index == RESOLVE_INDEX else "self")
    s.sampling = SamplingInfo(
        pass_rate=round(len(passing) / cfg.k, 6), k=cfg.k, passed=len(passing), model=cfg.model or "",
        engine=engine, temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed,
        prompt_template_sha256=prompt_hash, selection=cfg.selection, kept=origin, unsolved=kept is None,
        resolved=origin == "resolved", reference_solution=reference_solution,
        reference_answer=reference_answer, failures=dict(sorted(failures.items())))
    s.metadata.difficulty = difficulty(len(passing) / cfg.k)
    if kept is not None:
        _replace_answer(s, answer_text(kept.raw, kept.code))
        s.code.solution = kept.code
    fault = nearest_fault(s.code.solution or "", own, tried=len(own))
    if fault is not None:
        s.fault = fault
    elif kept is not None:
        s.fault = None  # a fault made for the reference code is no twin of the new answer
    if kept is None:
        s.quality.warnings = [*s.quality.warnings, "sample:unsolved"]
    if cfg.solved == "drop" and len(passing) == cfg.k:
        s.quality.decision = "rejected"
        s.quality.reasons = [*s.quality.reasons, f"solved_by_model: {cfg.k}/{cfg.k} answers passed"]
    return s


def sibling(record: Sample, answer: Answer, own: list[Answer]) -> Sample:
    """Another distinct passing answer of the same problem as a record of its own (`--keep N`): same group and
    split, an id derived from the record's, the record's id in its lineage, its own nearest fault."""
    s = record.model_copy(deep=True)
    s.sample_id = content_hash(record.sample_id, "sample", str(answer.index))[:24]
    _replace_answer(s, answer_text(answer.raw, answer.code))
    s.code.solution = answer.code
    s.fault = nearest_fault(answer.code, own, tried=len(own))
    s.dedup = None  # the record stands for the duplicate cluster, if any; its siblings do not
    s.provenance.lineage = [*s.provenance.lineage, record.sample_id]
    return s


def siblings(record: Sample, answers: list[Answer], cfg: SampleConfig, barred: frozenset[int]) -> list[Sample]:
    """Up to `cfg.keep - 1` more records for a record whose kept answer is a self-sample."""
    if cfg.keep <= 1 or record.sampling is None or record.sampling.kept != "self":
        return []
    own = sorted((a for a in answers if a.index != RESOLVE_INDEX), key=lambda a: a.index)
    ranked = distinct(rank([a for a in own if a.passed and a.index not in barred], cfg.selection))
    rest = [a for a in ranked if a.code != record.code.solution][:cfg.keep - 1]
    return [sibling(record, a, own) for a in rest]
