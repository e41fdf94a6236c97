"""`codesft sample`: the model's own verified answers as training data (self-distillation / rejection
sampling). Draw k answers per record, run them in the sandbox, keep a passing one, record the pass rate, and
keep the nearest failing one as the record's natural fault."""

from codesft.sample.config import SampleConfig
from codesft.sample.pipeline import SampleReport, sample_bundle

__all__ = ["SampleConfig", "SampleReport", "sample_bundle"]
