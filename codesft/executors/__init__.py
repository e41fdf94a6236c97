"""Back-ends that run the per-record curate stages: local processes, or Ray Data (optional extra)."""

from __future__ import annotations


class ExecutorUnavailable(ValueError):
    """The chosen back-end cannot run here (e.g. its optional extra is not installed): a setup error, exit 2."""


def make_executor(kind: str = "local", workers: int = 1, batch_size: int = 1024):
    # 1024: each phase-A batch starts one ruff process (~70 ms CPU to start), so batches must not be small.
    if kind == "ray":
        from codesft.executors.ray_data import RayExecutor

        return RayExecutor(batch_size=batch_size)
    from codesft.executors.local import LocalExecutor

    return LocalExecutor(workers=workers, batch_size=batch_size)
