"""`codesft augment`: new training records from a teacher model (paraphrases, Evol-Instruct variants, harder and
easier tasks, translations), each verified in the sandbox, gated like curated data and written with its lineage
as a new bundle version. See docs/augment.md."""

from codesft.augment.config import AugmentConfig
from codesft.augment.pipeline import AugmentReport, augment_bundle

__all__ = ["AugmentConfig", "AugmentReport", "augment_bundle"]
