"""Fault generation for fault-guided fine-tuning: incorrect-but-similar variants and their diff spans.

`generate_faults(bundle_path, config) -> Path` writes a new bundle version whose records carry
`Sample.fault`; `diff_spans(correct, incorrect)` gives the error-sensitive character spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def generate_faults(bundle_path: str | Path, config: Any = None) -> Path:
    """Attach faults to a bundle's samples and write them as a new bundle version; returns its path."""
    from codesft.faults.pipeline import generate_faults as _generate

    return _generate(bundle_path, config)


def diff_spans(correct: str, incorrect: str):
    from codesft.faults.spans import diff_spans as _diff

    return _diff(correct, incorrect)


__all__ = ["diff_spans", "generate_faults"]
