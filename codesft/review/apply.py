"""`codesft review apply`: turn the review database's decisions into the next bundle version.

The latest decision on each record counts. Rejected records move to rejected.jsonl with reason
`review:<reason>` and the reviewer; edits are applied and re-verified in the sandbox; approvals, edits and
rubric scores are recorded on the record as `quality.review`. Records nobody reviewed pass through
unchanged, byte for byte (their canonical JSON line is re-serialised as it was). The manifest gets
`parent_version` and a `review` section (counts, agreement,
the database's content hash); the dataset report shows the same statistics.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from codesft.bundle import Bundle, load_bundle, prepare_dict, rejected_entry, write_prepared
from codesft.curate.redact import redact_rejected_entry
from codesft.review.agreement import agreement
from codesft.review.edits import EditError, apply_edit, check_saveable, reverify
from codesft.review.store import ReviewStore, StoredDecision, content_sha256, latest
from codesft.schema import Review, RubricScores, Sample


class ApplyError(RuntimeError):
    """apply cannot go on; `user_error` marks what the user can fix (exit 2) versus a refusal (exit 1)."""

    def __init__(self, message: str, user_error: bool = True):
        super().__init__(message)
        self.user_error = user_error


def open_bundle(path: str | Path) -> Bundle:
    """The bundle at `path` (a version dir, or a name dir: its highest version). FileNotFoundError when there
    is none; ValueError when its manifest is not JSON or not a bundle manifest (checked here, before use)."""
    b = load_bundle(path)
    _ = b.meta  # validates the manifest
    return b


def write_version(parent: Bundle, records: Iterator[dict[str, Any]], rejected: Iterator[dict[str, Any]],
                  version: str, stats: dict[str, Any], manifest_extra: dict[str, Any]) -> Path:
    """Write `version` beside `parent` from records in their JSON form (kept or rejected)."""
    formats = parent.meta.formats
    config = parent.config()

    def prepared() -> Iterator[dict[str, Any]]:
        for d in records:
            if d["quality"]["decision"] == "rejected":
                continue
            yield prepare_dict(d, formats, config)

    def all_rejected() -> Iterator[dict[str, Any]]:
        # The writer writes entries as given. The parent's were redacted when the parent was written (as
        # faults and sample pass them on); a record the reviewer rejects is redacted the way curate's driver
        # redacts its rejected entries, with every rule.
        yield from parent.rejected()
        for d in rejected:
            review = d["quality"]["review"]
            entry = rejected_entry(d)
            entry.update({"reason": f"review:{review['reason']}", "reviewer": review["reviewer"], "stage": "review"})
            yield redact_rejected_entry(entry)

    return write_prepared(prepared(), all_rejected(), parent.path.parent.parent, parent.name, version, config,
                          parent_version=parent.version, formats=formats, stats=stats, manifest_extra=manifest_extra)


def next_version(version: str) -> str:
    """1.0.0 -> 1.0.1 (a local part such as +faults is dropped); unparsable versions need --version."""
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(version)
    except InvalidVersion:
        raise ApplyError(f"cannot derive the next version from {version!r}; pass --version") from None
    major, minor, micro = (list(v.release) + [0, 0, 0])[:3]
    return f"{major}.{minor}.{micro + 1}"


def _review(d: StoredDecision, n_decisions: int, db_hash: str, edited_fields: list[str]) -> Review:
    return Review(decision=d.decision, reviewer=d.reviewer, decided_at=d.decided_at, reason=d.reason,
                  comment=d.comment, rubric=RubricScores(**d.rubric) if d.rubric else None,
                  edited_fields=edited_fields, decisions=n_decisions, database_sha256=db_hash)


def reviewed_record(s: Sample, d: StoredDecision, n_decisions: int, db_hash: str, lineage: str,
                    config: dict[str, Any]) -> Sample:
    """The record after its decision: approved (review recorded), edited (and re-verified) or rejected."""
    fields: list[str] = []
    if d.decision == "edit":
        s, fields = apply_edit(s, d.edited_messages, d.edited_solution)
        if "solution" in fields:
            v = reverify(s, config)
            try:
                check_saveable(s, v)
            except EditError as exc:
                raise ApplyError(f"record {s.sample_id}: the edit by {d.reviewer} ({d.decided_at}) no longer "
                                 f"passes: {exc}; review it again", user_error=False) from None
            s.quality.verification = v
    else:
        s = s.model_copy(deep=True)
    s.quality.review = _review(d, n_decisions, db_hash, fields)
    if d.decision == "reject":
        s.quality.decision = "rejected"
        s.quality.reasons.append(f"review:{d.reason}")
        s.source.stage = "review"
    if lineage not in s.provenance.lineage:
        s.provenance.lineage = [*s.provenance.lineage, lineage]
    return s


def review_stats(decisions: list[StoredDecision], counted: dict[str, StoredDecision], db: Path, db_hash: str,
                 records: int) -> dict[str, Any]:
    outcome = Counter(d.decision for d in counted.values())
    rubric: dict[str, list[int]] = {}
    for d in counted.values():
        for k, v in (d.rubric or {}).items():
            if v is not None:
                rubric.setdefault(k, []).append(v)
    return {
        "database": str(db), "database_sha256": db_hash, "decisions": len(decisions),
        "records": records, "records_reviewed": len(counted), "records_unreviewed": records - len(counted),
        "approved": outcome["approve"], "edited": outcome["edit"], "rejected": outcome["reject"],
        "rejected_by_reason": dict(sorted(Counter(d.reason for d in counted.values()
                                                  if d.decision == "reject").items())),
        "decisions_by_reviewer": dict(sorted(Counter(d.reviewer for d in decisions).items())),
        "rubric_means": {k: round(sum(v) / len(v), 3) for k, v in sorted(rubric.items())},
        "rubric_counts": {k: len(v) for k, v in sorted(rubric.items())},
        "agreement": agreement(decisions),
    }


def apply_reviews(bundle_dir: str | Path, db_path: str | Path, version: str | None = None,
                  progress=lambda msg: None) -> tuple[Path, dict[str, Any]]:
    """Write the next version of the bundle with the database's decisions; returns (path, review stats)."""
    try:
        parent = open_bundle(bundle_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise ApplyError(str(exc)) from None
    store = ReviewStore(db_path, create=False)
    decisions = store.decisions(bundle=parent.key)
    if not decisions:
        others = ", ".join(store.bundles()) or "none"
        raise ApplyError(f"{db_path} holds no decisions for {parent.key} (it has decisions for: {others})")
    counted = latest(decisions)
    per_record = Counter(d.sample_id for d in decisions)
    db_hash = content_sha256(decisions)
    target = version or next_version(parent.version)
    if (parent.path.parent / f"v{target}").exists():
        raise ApplyError(f"bundle version {target} already exists at {parent.path.parent / f'v{target}'}; "
                         f"pass another --version")
    # Pass 1: the reviewed records (a human-sized number) are transformed and kept; the rest is counted.
    reviewed: dict[str, dict[str, Any]] = {}
    n_records = 0
    for d in parent.records():
        n_records += 1
        decision = counted.get(d["sample_id"])
        if decision is not None:
            progress(f"  {decision.decision}: {d['sample_id']} ({decision.reviewer})")
            s = reviewed_record(Sample.model_validate(d), decision, per_record[d["sample_id"]], db_hash,
                                parent.key, parent.config())
            reviewed[d["sample_id"]] = s.model_dump(mode="json")
    unmatched = sorted(set(counted) - set(reviewed))
    if unmatched:
        raise ApplyError(f"{len(unmatched)} reviewed record(s) are not in {parent.key} (e.g. {unmatched[0]}); "
                         f"is this the bundle that was reviewed?")
    stats = review_stats(decisions, counted, Path(db_path), db_hash, n_records)
    stats["parent_version"] = parent.version
    # Pass 2: stream every record; one nobody reviewed passes through unchanged, byte for byte.
    records = (reviewed.get(d["sample_id"], d) for d in parent.records())
    rejected = iter([d for d in reviewed.values() if d["quality"]["decision"] == "rejected"])
    path = write_version(parent, records, rejected, target, {**_parent_pipeline_stats(parent), "review": stats},
                         {"review": stats})
    return path, stats


def _parent_pipeline_stats(parent: Bundle) -> dict[str, Any]:
    """The parent's pipeline statistics (dedup, balance, ...), carried into the new summary."""
    return {k: v for k, v in (parent.summary().get("pipeline") or {}).items() if k != "review"}
