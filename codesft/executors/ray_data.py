"""Ray Data back-end (the `ray` extra): the same batch functions over a Ray cluster.

Items cross the process boundary pickled (the curate driver's batch functions take JSON lines and return
lines plus small side records, see `codesft.curate.driver`), so any picklable batch function runs
unchanged. Imported only when `executor: ray` is chosen; the test suite checks that it writes the same bundle
bytes as the local executor.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pickle

from codesft.executors import ExecutorUnavailable
from codesft.executors.local import chunks


def _pickled_batch(fn: Callable[[list[Any]], list[Any]]):
    def run(batch: dict) -> dict:
        out = fn([pickle.loads(x) for x in batch["item"]])
        return {"item": [pickle.dumps(y) for y in out]}
    return run


class RayExecutor:
    def __init__(self, batch_size: int = 256, window: int = 50_000, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise ExecutorUnavailable(f"executor 'ray' needs the ray extra (pip install 'codesft[ray]'): {exc}") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        self.batch_size = batch_size
        self.window = window

    def map_batches(self, fn: Callable[[list[Any]], list[Any]], items: Iterable[Any]) -> Iterator[Any]:
        import ray.data

        # A window at a time keeps the driver's memory bounded; order is preserved within a window.
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        for window in chunks(items, self.window):
            ds = ray.data.from_items([{"item": pickle.dumps(x)} for x in window])
            ds = ds.map_batches(_pickled_batch(fn), batch_size=self.batch_size, batch_format="numpy")
            for row in ds.iter_rows():
                yield pickle.loads(row["item"])
