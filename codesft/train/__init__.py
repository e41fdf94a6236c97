"""Training: SFT, fault-guided fine-tuning (FGit) and DPO on codesft bundles.

`train(config) -> Path` is the Python entry point (`codesft train` and `codesft run` call it).
Heavy imports (torch, transformers) happen only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(config: Any) -> Path:
    """Train as configured (a TrainConfig or a dict of its fields); returns the output directory."""
    from codesft.train.config import TrainConfig
    from codesft.train.run import train as _train

    if not isinstance(config, TrainConfig):
        config = TrainConfig.model_validate(config)
    return _train(config)


__all__ = ["train"]
