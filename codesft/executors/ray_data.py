"""Ray Data back-end (the `ray` extra): the same batch functions over a Ray cluster.

Records cross the process boundary as JSON lines (the canonical form), so any stage function that
maps list[Sample] -> list[Sample] runs unchanged. Imported only when `executor: ray` is chosen.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from codesft.executors.local import chunks
from codesft.schema import Sample


def _json_batch(fn: Callable[[list[Sample]], list[Sample]]):
    def run(batch: dict) -> dict:
        out = fn([Sample.from_json(line) for line in batch["record"]])
        return {"record": [s.to_json() for s in out]}
    return run


class RayExecutor:
    def __init__(self, batch_size: int = 256, window: int = 50_000, address: str | None = None):
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("executor 'ray' needs the ray extra: pip install 'codesft[ray]'") from exc
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        self.batch_size = batch_size
        self.window = window

    def map_batches(self, fn: Callable[[list[Sample]], list[Sample]], items: Iterable[Sample]) -> Iterator[Sample]:
        import ray.data

        # A window at a time keeps the driver's memory bounded; order is preserved within a window.
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        for window in chunks(items, self.window):
            ds = ray.data.from_items([{"record": s.to_json()} for s in window])
            ds = ds.map_batches(_json_batch(fn), batch_size=self.batch_size, batch_format="numpy")
            for row in ds.iter_rows():
                yield Sample.from_json(str(row["record"]))
