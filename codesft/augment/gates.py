"""The gates an augmented record goes through, with the settings the bundle was curated with (its manifest's
config; curate's defaults for a section it does not name): curate's per-record stages (normalize, redact,
score, gate), then dedup against the bundle's records and the augmented records kept before it, then
decontamination against the benchmarks. Teacher text is where a memorised benchmark or a copy of an existing
problem hides, so nothing skips them.

Dedup differs from curate's in one way: the bundle's records are never the ones dropped. Curate clusters all
records and keeps the best of each cluster; here an augmented record is dropped when it is an exact or near
duplicate of any record of the bundle (every split: a copy of a test problem is a leak) or of an augmented
record kept earlier, with curate's features (`codesft.curate.dedup.features`: the exact key and the MinHash
LSH bands and signature) and its reasons (`exact_duplicate: of ID`, `near_duplicate: of ID`). The index of the
bundle's records is held in memory: the exact key, the band keys and the signature of each (about 1 KB per
record with the defaults), built with one pass over the bundle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codesft.curate.config import (
    GATE_PRESETS,
    DecontamConfig,
    DedupConfig,
    GateConfig,
    NormalizeConfig,
    RedactConfig,
    ScoreConfig,
)
from codesft.curate.decontam import verdict
from codesft.curate.dedup import feature_dtype, features, jaccard
from codesft.curate.gate import gate_one, reject
from codesft.curate.normalize import normalize_one
from codesft.curate.redact import active_rules, redact_one
from codesft.curate.score import score_batch
from codesft.schema import Sample


class DuplicateIndex:
    """Exact keys and LSH bands of the records added; `match` names the first one a record duplicates."""

    def __init__(self, cfg: DedupConfig) -> None:
        self.cfg = cfg
        self.exact: dict[bytes, str] = {}
        self.bands: dict[tuple[int, int], list[int]] = {}
        self.ids: list[str] = []
        self.sigs: list[np.ndarray] = []

    def _row(self, s: Sample) -> Any:
        return np.frombuffer(features(s, self.cfg), dtype=feature_dtype(self.cfg))[0]

    def add(self, s: Sample) -> None:
        if not self.cfg.enabled:
            return
        row = self._row(s)
        self.exact.setdefault(bytes(row["exact"]), s.sample_id)
        if self.cfg.near and row["has_bands"]:
            n = len(self.ids)
            self.ids.append(s.sample_id)
            self.sigs.append(np.array(row["sig"]))
            for j, key in enumerate(row["bands"].tolist()):
                self.bands.setdefault((j, key), []).append(n)

    def match(self, s: Sample) -> str | None:
        """`exact_duplicate: of ID` / `near_duplicate: of ID` (the first record added that it duplicates), or None."""
        if not self.cfg.enabled:
            return None
        row = self._row(s)
        hit = self.exact.get(bytes(row["exact"]))
        if hit is not None:
            return f"exact_duplicate: of {hit}"
        if not (self.cfg.near and row["has_bands"]):
            return None
        found = sorted({n for j, key in enumerate(row["bands"].tolist()) for n in self.bands.get((j, key), [])})
        if not found:
            return None
        # A band hit only nominates; the estimated Jaccard of the signatures confirms, as in curate.
        near = jaccard(np.array(row["sig"]), np.stack([self.sigs[n] for n in found])) >= self.cfg.threshold
        first = next((found[i] for i in range(len(found)) if near[i]), None)
        return None if first is None else f"near_duplicate: of {self.ids[first]}"


def _section(config: dict[str, Any], name: str, cls: type) -> Any:
    return cls.model_validate(config.get(name) or {})


class Gates:
    """The gates of one run, with the bundle's settings. `add_original` every live record of the bundle first;
    then `apply` the augmented records, in a fixed order (the first of two duplicates is kept)."""

    def __init__(self, bundle_config: dict[str, Any]) -> None:
        c = bundle_config
        self.normalize = _section(c, "normalize", NormalizeConfig)
        redact = _section(c, "redact", RedactConfig)
        self.rules = active_rules(redact) if redact.enabled else []
        self.score = _section(c, "score", ScoreConfig)
        preset = GATE_PRESETS[c.get("gates") or "balanced"]
        gate = (c.get("gate") or {})
        self.gate = GateConfig(**{k: gate.get(k) if gate.get(k) is not None else preset[k] for k in GateConfig.model_fields})
        self.decontam = _section(c, "decontam", DecontamConfig)
        self.index = DuplicateIndex(_section(c, "dedup", DedupConfig))

    def add_original(self, s: Sample) -> None:
        if s.quality.decision != "rejected":
            self.index.add(s)

    def _redact(self, s: Sample) -> Sample:
        # `augmentation` is the pipeline's own metadata (ids, hashes, the teacher's name), not text anyone wrote:
        # it is set aside so a hash is never taken for a secret, as curate leaves ids and hashes out.
        info, s = s.augmentation, s.model_copy(update={"augmentation": None})
        out = redact_one(s, self.rules) if self.rules else s
        return out.model_copy(update={"augmentation": info})

    def apply(self, batch: list[Sample]) -> list[Sample]:
        """The records after the gates: kept (accepted or downgraded) or rejected with the stage's reason."""
        staged = [self._redact(normalize_one(s, self.normalize)) for s in batch]
        out = []
        for s in score_batch(staged, self.score):  # one ruff process for the batch, as in curate
            s = gate_one(s, self.gate, self.score)
            if s.quality.decision != "rejected":
                dup = self.index.match(s)
                if dup is not None:
                    s = reject(s, dup, "dedup")
            if s.quality.decision != "rejected":
                why = verdict(s, self.decontam)
                if why is not None:
                    s = reject(s, why, "decontam")
            if s.quality.decision != "rejected":
                self.index.add(s)  # the augmented records kept so far count as originals for the next ones
                s.source.stage = "augment"
            out.append(s)
        return out
