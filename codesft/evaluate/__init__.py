"""Execution-based evaluation: benchmarks, generation backends, sanitizer, sandboxed execution, metrics, reports.

Python API (see docs/eval.md):

    from codesft.evaluate import EvalConfig, run_eval, score_samples, compare
    out_dir = run_eval(EvalConfig(model="offline:qwen2.5-coder-0.5b-instruct", benchmark="humaneval", out="runs/x"))
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy, so `import codesft.evaluate` (done by the CLI at start-up) costs nothing.
    if name in ("run_eval", "score_samples"):
        from codesft.evaluate import runner

        return getattr(runner, name)
    if name == "compare":
        from codesft.evaluate.compare import compare

        return compare
    if name == "EvalConfig":
        from codesft.evaluate.config import EvalConfig

        return EvalConfig
    if name == "load_benchmark":
        from codesft.evaluate.problems import load_benchmark

        return load_benchmark
    raise AttributeError(name)


__all__ = ["EvalConfig", "compare", "load_benchmark", "run_eval", "score_samples"]
