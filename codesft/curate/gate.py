"""gate: hard reasons reject, soft reasons downgrade. Reasons are `code: detail`; the manifest counts codes."""

from __future__ import annotations

from typing import Iterable, Iterator

from codesft.curate.config import GateConfig
from codesft.schema import Sample


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def fork(sample: Sample, stage: str | None = None) -> Sample:
    """A shallow copy that owns the parts stages write (source, quality and its lists); the rest is
    shared with `sample`, which stays untouched. Much cheaper than `model_copy(deep=True)`."""
    q = sample.quality
    quality = q.model_copy(update={"reasons": list(q.reasons), "warnings": list(q.warnings),
                                   "dimensions": dict(q.dimensions)})
    source = sample.source.model_copy(update={"stage": stage}) if stage else sample.source.model_copy()
    return sample.model_copy(update={"source": source, "quality": quality})


def reject(s: Sample, reason: str, stage: str) -> Sample:
    s.quality.decision = "rejected"
    s.quality.reasons.append(reason)
    s.source.stage = stage
    return s


def hard_reasons(s: Sample, cfg: GateConfig) -> list[str]:
    out = []
    p = s.provenance
    if not p.source_path or not p.content_hash:
        out.append("missing_provenance: source_path and content_hash are required")
    if s.redaction.status == "blocked":
        kinds = sorted({f.kind for f in s.redaction.findings if f.action == "blocked"})
        out.append(f"redaction_blocked: {', '.join(kinds)}")
    if s.quality.veto and not any(r.startswith("veto:") for r in s.quality.reasons):
        out.append("veto: set by the source")
    if not any(m.role == "user" and m.content.strip() for m in s.messages) or \
            not any(m.role == "assistant" and (m.content.strip() or m.tool_calls) for m in s.messages):
        out.append("no_user_assistant: needs a user and an assistant message")
    if s.quality.score < cfg.min_score:
        out.append(f"score_below_floor: {s.quality.score:.1f} < {cfg.min_score:g}")
    if s.quality.token_estimate > cfg.max_tokens:
        out.append(f"too_many_tokens: {s.quality.token_estimate} > {cfg.max_tokens}")
    return out


def soft_reasons(s: Sample, cfg: GateConfig) -> list[str]:
    out = []
    if s.quality.iterations > cfg.max_iterations:
        out.append(f"too_many_iterations: {s.quality.iterations} > {cfg.max_iterations}")
    if cfg.require_code_pair and not s.quality.has_code_pair:
        out.append("no_code_pair: no solution with tests or before/after code")
    return out


def gate_one(sample: Sample, cfg: GateConfig) -> Sample:
    s = fork(sample)
    if s.quality.decision == "rejected":
        return s
    s.source.stage = "gate"
    hard = hard_reasons(s, cfg)
    if hard or s.quality.veto:
        s.quality.decision = "rejected"
        s.quality.reasons.extend(hard)
        return s
    soft = soft_reasons(s, cfg)
    s.quality.decision = "downgraded" if soft else "accepted"
    s.quality.reasons.extend(soft)
    return s


def gate(samples: Iterable[Sample], cfg: GateConfig) -> Iterator[Sample]:
    for s in samples:
        yield gate_one(s, cfg)
