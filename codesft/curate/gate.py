"""gate: hard reasons reject, soft reasons downgrade. Reasons are `code: detail`; the manifest counts codes.

Two verdicts are preset policies rather than fixed rules (`GateConfig.unverified`, `.before_passes`): a record
nothing executed, and a repair pair whose problematic code passes its tests too (it is not a repair).
"""

from __future__ import annotations


from codesft.bundle.reasons import reason_code  # noqa: F401 - kept importable from here
from codesft.curate.config import GateConfig, ScoreConfig
from codesft.schema import Sample

DIMENSIONS = ("correctness", "completeness", "consistency", "safety")


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


def is_unverified(s: Sample) -> bool:
    return s.quality.verification.status == "unverified"


def before_passes(s: Sample) -> bool:
    return s.quality.verification.before_status == "passed"


def _unverified_reason(s: Sample) -> str:
    return f"unverified: {s.quality.verification.reason or 'not executed'}"


_BEFORE_PASSES = "before_passes: the problematic code passes the tests too, so this is no repair pair"


def floor_score(s: Sample, weights: ScoreConfig) -> float:
    """The score the floor is checked on. For an unverified record, the weighted score of the dimensions that
    could be measured: its correctness is unknown (and scored 0), which the `unverified` policy judges, not the
    floor. For every other record, its score."""
    dims = s.quality.dimensions
    if not is_unverified(s) or "correctness" not in dims:
        return s.quality.score
    measured = [d for d in DIMENSIONS if d != "correctness" and d in dims]
    total = sum(getattr(weights, d) for d in measured)
    if not total:
        return s.quality.score
    return round(100.0 * sum(getattr(weights, d) * dims[d] for d in measured) / total, 2)


def hard_reasons(s: Sample, cfg: GateConfig, weights: ScoreConfig | None = None) -> list[str]:
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
    floor = floor_score(s, weights or ScoreConfig())
    if floor < cfg.min_score:
        out.append(f"score_below_floor: {floor:.1f} < {cfg.min_score:g}")
    if s.quality.token_estimate > cfg.max_tokens:
        out.append(f"too_many_tokens: {s.quality.token_estimate} > {cfg.max_tokens}")
    if is_unverified(s) and cfg.unverified == "reject":
        out.append(_unverified_reason(s))
    if before_passes(s) and cfg.before_passes == "reject":
        out.append(_BEFORE_PASSES)
    return out


def soft_reasons(s: Sample, cfg: GateConfig) -> list[str]:
    """Downgrade reasons. Their codes are `codesft.bundle.reasons.SOFT_REASONS`, which the bundle skips when
    it names a rejected record's primary reason: a new soft reason goes there too."""
    out = []
    if s.quality.iterations > cfg.max_iterations:
        out.append(f"too_many_iterations: {s.quality.iterations} > {cfg.max_iterations}")
    if cfg.require_code_pair and not s.quality.has_code_pair:
        out.append("no_code_pair: no solution with tests or before/after code")
    if is_unverified(s) and cfg.unverified == "downgrade":
        out.append(_unverified_reason(s))
    if before_passes(s) and cfg.before_passes == "downgrade":
        out.append(_BEFORE_PASSES)
    return out


def gate_one(sample: Sample, cfg: GateConfig, weights: ScoreConfig | None = None) -> Sample:
    """`cfg` must be resolved (no null fields: `CurateConfig.resolved().gate`); `weights` are the score
    weights the record was scored with (the floor of an unverified record is checked on its measured part)."""
    s = fork(sample)
    if s.quality.decision == "rejected":
        return s
    s.source.stage = "gate"
    hard = hard_reasons(s, cfg, weights)
    if hard or s.quality.veto:
        s.quality.decision = "rejected"
        s.quality.reasons.extend(hard)
        return s
    soft = soft_reasons(s, cfg)
    s.quality.decision = "downgraded" if soft else "accepted"
    s.quality.reasons.extend(soft)
    if is_unverified(s) and cfg.unverified == "accept":
        s.quality.warnings.append(f"gate: accepted although {_unverified_reason(s)}")
    return s
