"""Local executor: runs a batch function over a stream in worker processes, order preserved, with a
bounded number of batches in flight so memory does not grow with the stream."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


class LocalExecutor:
    def __init__(self, workers: int = 1, batch_size: int = 256, in_flight: int | None = None):
        self.workers = max(1, workers)
        self.batch_size = batch_size
        self.in_flight = in_flight or 2 * self.workers

    def map_batches(self, fn: Callable[[list[T]], list[R]], items: Iterable[T]) -> Iterator[R]:
        """`fn` must be picklable (a module-level function or a functools.partial of one)."""
        if self.workers == 1:
            for batch in chunks(items, self.batch_size):
                yield from fn(batch)
            return
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(self.workers) as pool:
            pending: deque = deque()
            for batch in chunks(items, self.batch_size):
                pending.append(pool.apply_async(fn, (batch,)))
                if len(pending) >= self.in_flight:
                    yield from pending.popleft().get()
            while pending:
                yield from pending.popleft().get()
