"""The manifest, typed for readers. The writer builds the same keys as a plain dict (its bytes are part
of the bundle); this model only reads them, so extra keys (e.g. `review`) are kept, not refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ManifestError(ValueError):
    """A manifest.json that is not a bundle manifest (what is missing or wrong, and where)."""


class Counts(BaseModel):
    """`counts`: the record accounting (inputs = accepted + downgraded + rejected) and its breakdowns."""

    model_config = ConfigDict(extra="allow", frozen=True)

    inputs: int
    accepted: int
    downgraded: int
    rejected: int
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    rejected_by_stage: dict[str, int] = Field(default_factory=dict)
    downgraded_by_reason: dict[str, int] = Field(default_factory=dict)
    by_split: dict[str, int] = Field(default_factory=dict)
    by_category: dict[str, int] = Field(default_factory=dict)
    by_language: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    with_fault: int = 0
    by_format: dict[str, dict[str, int]] = Field(default_factory=dict)


class Manifest(BaseModel):
    """manifest.json. `parent_version` is the lineage: the version this one was derived from (None for a
    bundle curated from sources); `files` maps each file to its sha256."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    version: str
    parent_version: str | None = None
    codesft_version: str | None = None
    schema_version: str | None = None
    seed: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    formats: list[str] | None = None
    counts: Counts
    files: dict[str, str]
    review: dict[str, Any] | None = None


def parse_manifest(raw: dict[str, Any], where: str) -> Manifest:
    """`raw` as a Manifest; ManifestError naming `where` and the first problems otherwise."""
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:3])
        raise ManifestError(f"{where}: not a bundle manifest ({problems})") from None
