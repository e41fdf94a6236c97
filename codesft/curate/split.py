"""split: sha256(f"{seed}:{group_key}"), first 8 hex digits as an integer mod 100 -> bucket; every
record of a group lands in the same split. Buckets fill train, validation, test, holdout in that order."""

from __future__ import annotations

import hashlib

from codesft.curate.config import SplitConfig
from codesft.schema import Sample, Split


def bucket(seed: int, group_key: str) -> int:
    return int(hashlib.sha256(f"{seed}:{group_key}".encode()).hexdigest()[:8], 16) % 100


def assign(seed: int, group_key: str, cfg: SplitConfig) -> str:
    b = bucket(seed, group_key)
    edge = 0
    for name in ("train", "validation", "test", "holdout"):
        edge += getattr(cfg, name)
        if b < edge:
            return name
    return "train"  # unreachable when the shares sum to 100 (checked by the config)


def with_split(s: Sample, cfg: SplitConfig, seed: int) -> Sample:
    return s.model_copy(update={"split": Split(assignment=assign(seed, s.source.group_key, cfg), seed=seed,
                                               strategy="group_hash", group_key=s.source.group_key)})
