"""The curate driver: runs a declared list of stages (`codesft.curate.pipeline.STAGES`) over a record
stream in as few passes as its whole-dataset stages allow, checkpointing between passes.

Stage kinds:
- `Map(name, fn)`: `fn(sample, cfg) -> sample`, one record at a time, in the executor's workers.
- `Batch(name, fn)`: `fn(samples, cfg) -> samples`, a batch at a time in the workers (for a stage that pays
  a fixed cost per call, e.g. one ruff process per batch).
- `Sandbox(name)`: verify, in the main process through one `Verifier` (one sandbox pool) for the run.
- `Filter(name, check)`: `check(sample, cfg) -> reason | None`: keep, or drop (reject) with the reason.
- a whole-dataset stage (`Whole`: dedup, balance): a key per live record, one plan from all the keys,
  then a small per-record entry of the plan applied to the record.

Passes:
1. Per-record stages: consecutive worker stages form one executor batch function; a `Sandbox` stage
   splits them (its batches run in the main process between two executor maps). The last batch function
   also computes, per record, the inputs of every later stage: filter verdicts and whole-dataset keys.
   Those are pure functions of the record as the per-record stages left it, and whole-dataset stages
   only annotate and reject records (they never change what a filter or key reads), so computing them
   here, in parallel, gives what computing them in order would. Checkpoint: `records.jsonl` +
   `records.side.jsonl` (per record: live, verdicts, keys by stage name) + the first whole-dataset
   stage's keys (`<name>.keys`).
2. One main-process pass per whole-dataset stage but the last: its plan from its keys file, then the
   plan's entries and the filters that follow, in the declared order; a record is parsed only when
   something applies to it, the others are copied through as lines. Checkpoint: `after-<name>.jsonl` +
   side + the next stage's keys.
3. Export: the last whole-dataset stage's plan and the filters after it, applied in the workers with the
   bundle writer's per-record rows; the main process writes the bundle.

Records cross process boundaries and checkpoints as JSON lines and are `Sample`s everywhere else; the
output does not depend on the number of workers. Checkpoints are written after redaction, so no secret
reaches disk in clear.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Union

from codesft.bundle import parquet_tables, prepare_dict, prepare_rejected, rejected_entry, write_prepared
from codesft.curate.checkpoint import Meter, Progress, VerifyCache, read_jsonl
from codesft.curate.config import CurateConfig
from codesft.curate.gate import fork, reject
from codesft.curate.redact import redact_rejected_entry
from codesft.curate.verify import Verifier, mark_unverified
from codesft.schema import Sample


@dataclass(frozen=True)
class Map:
    name: str
    fn: Callable[[Sample, CurateConfig], Sample]


@dataclass(frozen=True)
class Batch:
    name: str
    fn: Callable[[list[Sample], CurateConfig], list[Sample]]


@dataclass(frozen=True)
class Sandbox:
    """The verify stage (`cfg.verify`): batches of `cfg.verify.batch_size` through the run's `Verifier`.
    Disabled, it marks every record `unverified` in the workers instead."""

    name: str


@dataclass(frozen=True)
class Filter:
    name: str
    check: Callable[[Sample, CurateConfig], "str | None"]


class Whole(Protocol):
    """A whole-dataset stage. `key` runs in the workers for each record live after the per-record
    stages; `plan` reads the keys of the records still live when the stream reaches the stage (a file:
    raw rows when `binary_keys`, else one JSON value per line); `entry` is the plan's part for the
    `index`-th live record (None: nothing to do), which `apply` applies (in the main process, or in the
    export workers for the last such stage, so entries must pickle)."""

    name: str
    binary_keys: bool

    def prepare(self, cfg: CurateConfig) -> None: ...
    def key(self, s: Sample, cfg: CurateConfig) -> Any: ...
    def plan(self, keys: Path, cfg: CurateConfig) -> Any: ...
    def entry(self, plan: Any, index: int, key: Any) -> Any: ...
    def apply(self, s: Sample, entry: Any, cfg: CurateConfig) -> Sample: ...
    def stats(self, plan: Any) -> dict[str, Any]: ...
    def metrics(self, plan: Any) -> dict[str, Any]: ...


Stage = Union[Map, Batch, Sandbox, Filter, Whole]
PerRecord = (Map, Batch, Sandbox)
Todo = list[tuple[str, Any]]  # (stage name, plan entry or filter reason), in the declared order


@dataclass(frozen=True)
class Layout:
    """`stages` cut where the driver runs them: per-record stages (and the filters before the first
    whole-dataset stage), then each whole-dataset stage with the filters that follow it."""

    head: tuple[Stage, ...]
    chunks: tuple[tuple[Whole, tuple[Filter, ...]], ...]

    @property
    def tail(self) -> list[Stage]:
        return [st for whole, filters in self.chunks for st in (whole, *filters)]

    def by_name(self) -> dict[str, Stage]:
        return {st.name: st for st in self.tail}


def layout(stages: Iterable[Stage]) -> Layout:
    """Cut `stages`; ValueError for an order the driver cannot run as declared."""
    head: list[Stage] = []
    chunks: list[tuple[Any, list[Filter]]] = []
    for st in stages:
        if isinstance(st, PerRecord):
            if chunks:  # it would change records after a plan was built from them
                raise ValueError(f"stage {st.name!r}: a per-record stage must come before the whole-dataset "
                                 f"stages (or be a Filter)")
            head.append(st)
        elif isinstance(st, Filter):
            (chunks[-1][1] if chunks else head).append(st)
        else:
            if st.binary_keys and chunks:  # later keys travel in the JSON side file
                raise ValueError(f"stage {st.name!r}: only the first whole-dataset stage may have binary keys")
            chunks.append((st, []))
    return Layout(tuple(head), tuple((w, tuple(f)) for w, f in chunks))


def transport(s: Sample) -> str:
    # `exclude_unset` one way, so the next process sees the same `model_fields_set` the reader produced;
    # pickling pydantic models costs ~10x more than this.
    return s.model_dump_json(exclude_unset=True)


def _filtered(s: Sample, name: str, reason: str | None) -> Sample:
    if reason is None or s.quality.decision == "rejected":
        return s
    return reject(fork(s), reason, name)


def _one(st: Stage, s: Sample, *, cfg: CurateConfig) -> Sample:
    if isinstance(st, Map):
        return st.fn(s, cfg)
    if isinstance(st, Filter):
        return _filtered(s, st.name, st.check(s, cfg))
    return mark_unverified(s)  # a Sandbox stage in the workers: verification disabled


def _side(s: Sample, tail: list[Stage], cfg: CurateConfig) -> tuple[str, dict[str, Any], bytes]:
    """(checkpoint line, side record, binary key) of a record leaving the per-record stages."""
    live = s.quality.decision != "rejected"
    side: dict[str, Any] = {"live": live}
    row = b""
    for st in tail:
        value = (st.check(s, cfg) if isinstance(st, Filter) else st.key(s, cfg)) if live else None
        if isinstance(st, Filter) or not st.binary_keys:
            side[st.name] = value
        elif value:
            row = value
    return s.to_json(), side, row


def run_group(lines: list[str], group: tuple[Stage, ...], cfg: CurateConfig, tail: list[Stage] | None) -> list:
    """Executor batch function: consecutive per-record stages over a batch of transport lines. The last
    group (`tail` given) returns `_side` triples, the others transport lines.

    One-record stages run record by record, from the parse to the output line, so each record's
    intermediate copies die at once: stage by stage over the whole batch keeps a batch of them alive, and
    the garbage collector's scans of them cost ~15% of the pass."""
    steps: list[Callable[[Any], Any]] = [Sample.model_validate_json]
    batch: list[Any] = lines
    for st in group:
        if isinstance(st, Batch):
            batch = st.fn([_chain(steps, x) for x in batch], cfg)
            steps = []
        else:
            steps.append(functools.partial(_one, st, cfg=cfg))
    steps.append(transport if tail is None else functools.partial(_side, tail=tail, cfg=cfg))
    return [_chain(steps, x) for x in batch]


def _chain(steps: list[Callable[[Any], Any]], x: Any) -> Any:
    for step in steps:
        x = step(x)
    return x


def _groups(head: tuple[Stage, ...], cfg: CurateConfig) -> list[Any]:
    """Consecutive worker stages as one tuple; an enabled Sandbox stage on its own (it runs in the main
    process). The list ends with a worker group (possibly empty), which computes the side records."""
    groups: list[Any] = []
    current: list[Stage] = []
    for st in head:
        if isinstance(st, Sandbox) and cfg.verify.enabled:
            groups += [tuple(current), st]
            current = []
        else:
            current.append(st)
    return [g for g in groups if g != ()] + [tuple(current)]


def _verified(lines: Iterable[str], verifier: Verifier, cache: VerifyCache) -> Iterator[str]:
    batch: list[Sample] = []

    def flush() -> list[str]:
        out = [transport(s) for s in verifier.verify_batch(batch)]
        cache.persist()
        batch.clear()
        return out

    for line in lines:
        batch.append(Sample.model_validate_json(line))
        if len(batch) >= verifier.cfg.batch_size:
            yield from flush()
    if batch:
        yield from flush()


def _keys_path(work: Path, whole: Whole) -> Path:
    return work / f"{whole.name}.keys"


def _write_checkpoint(work: Path, stem: str, items: Iterable[tuple[str, dict, bytes]],
                      keys: tuple[Whole, Callable[[dict, bytes], Any]] | None) -> int:
    """`stem`.jsonl + `stem`.side.jsonl, and the keys file of the next whole-dataset stage (`keys`: the
    stage and how to read a live record's key from its side record / binary row); each atomically."""
    paths = [work / f"{stem}.jsonl", work / f"{stem}.side.jsonl"] + ([_keys_path(work, keys[0])] if keys else [])
    tmps = [p.with_suffix(p.suffix + ".tmp") for p in paths]
    binary = keys is not None and keys[0].binary_keys
    handles = [tmps[0].open("w", encoding="utf-8", newline="\n"), tmps[1].open("w", encoding="utf-8", newline="\n")]
    if keys:
        handles.append(tmps[2].open("wb") if binary else tmps[2].open("w", encoding="utf-8", newline="\n"))
    n = 0
    try:
        for line, side, row in items:
            if keys and side["live"]:  # the plan reads the keys file; the entries, the side records
                key = keys[1](side, row)
                handles[2].write(key if binary else json.dumps(key, ensure_ascii=False) + "\n")
            handles[0].write(line + "\n")
            handles[1].write(json.dumps(side, ensure_ascii=False) + "\n")
            n += 1
    finally:
        for fh in handles:
            fh.close()
    for tmp, path in zip(tmps, paths):
        os.replace(tmp, path)
    return n


def per_record_pass(cfg: CurateConfig, work: Path, progress: Progress, executor, stages: Iterable[Stage],
                    records: Iterable[Sample]) -> int:
    """Pass 1 over `records` (already read; read errors are the caller's): checkpoint `records.*`."""
    lay = layout(stages)
    for whole, _ in lay.chunks:  # e.g. heavy imports, once, before the workers fork
        whole.prepare(cfg)
    groups = _groups(lay.head, cfg)
    stream: Iterable[Any] = (transport(s) for s in records)
    names = "+".join(st.name for st in lay.head)
    meter = Meter(f"read+{names}", progress)
    first = lay.chunks[0][0] if lay.chunks else None
    keys = (first, (lambda side, row: row if first.binary_keys else side[first.name])) if first else None
    cache = VerifyCache(work / "verify_cache.jsonl") if any(isinstance(g, Sandbox) for g in groups) else None
    with Verifier(cfg.verify, cache) if cache is not None else contextlib.nullcontext() as verifier:
        for i, group in enumerate(groups):
            if isinstance(group, Sandbox):
                stream = _verified(stream, verifier, cache)
            else:
                tail = lay.tail if i == len(groups) - 1 else None
                stream = executor.map_batches(functools.partial(run_group, group=group, cfg=cfg, tail=tail), stream)
        n = _write_checkpoint(work, "records", meter.wrap(stream), keys)
    meter.done()
    return n


def _stems(lay: Layout) -> list[str]:
    """The checkpoint each whole-dataset stage reads: `records`, then `after-<previous stage>`."""
    return ["records"] + [f"after-{whole.name}" for whole, _ in lay.chunks[:-1]]


def _todos(work: Path, stem: str, chunk: tuple[Whole, tuple[Filter, ...]],
           plan: Any) -> Iterator[tuple[str, dict, Todo]]:
    """Checkpoint `stem` with what `chunk` does to each record: (line, side, todo)."""
    whole, filters = chunk
    index = -1
    for line, side in zip(read_jsonl(work / f"{stem}.jsonl", raw=True), read_jsonl(work / f"{stem}.side.jsonl")):
        todo: Todo = []
        if side["live"]:
            index += 1
            entry = whole.entry(plan, index, side.pop(whole.name, None))
            if entry is not None:
                todo.append((whole.name, entry))
            todo += [(f.name, side[f.name]) for f in filters if side.get(f.name) is not None]
        yield line, side, todo


def apply_todo(s: Sample, todo: Todo, by_name: dict[str, Stage], cfg: CurateConfig) -> Sample:
    for name, value in todo:
        st = by_name[name]
        s = _filtered(s, name, value) if isinstance(st, Filter) else st.apply(s, value, cfg)
    return s


def whole_pass(cfg: CurateConfig, work: Path, progress: Progress, stages: Iterable[Stage], k: int) -> dict[str, Any]:
    """Pass 2 for the `k`-th whole-dataset stage (not the last): plan, apply, checkpoint. Returns the
    plan's bundle stats and metrics."""
    lay = layout(stages)
    chunk, by_name = lay.chunks[k], lay.by_name()
    whole, nxt = chunk[0], lay.chunks[k + 1][0]
    plan = whole.plan(_keys_path(work, whole), cfg)
    meter = Meter("+".join(st.name for st in (whole, *chunk[1])), progress)

    def items() -> Iterator[tuple[str, dict, bytes]]:
        for line, side, todo in _todos(work, _stems(lay)[k], chunk, plan):
            if todo:
                s = apply_todo(Sample.from_json(line), todo, by_name, cfg)
                line, side["live"] = s.to_json(), s.quality.decision != "rejected"
            yield line, {n: v for n, v in side.items() if n not in (f.name for f in chunk[1])}, b""

    _write_checkpoint(work, f"after-{whole.name}", meter.wrap(items()), (nxt, lambda side, row: side[nxt.name]))
    meter.done()
    return {"stats": whole.stats(plan), "metrics": whole.metrics(plan)}


def export_batch(items: list[tuple[str, Todo]], by_name: dict[str, Stage], cfg: CurateConfig,
                 formats: list[str], config: dict) -> list[dict[str, Any]]:
    """Executor batch function: the last plan's entries, then the bundle writer's rows for each record.
    A record nothing applies to stays in its JSON form (`json.loads` of its canonical line; no `Sample`
    is built for it, and its sample line is byte-equal to `to_json`)."""
    out = []
    for line, todo in items:
        d = apply_todo(Sample.from_json(line), todo, by_name, cfg).model_dump(mode="json") if todo else json.loads(line)
        if d["quality"]["decision"] == "rejected":
            out.append(prepare_rejected(redact_rejected_entry(rejected_entry(d))))
        else:
            out.append(prepare_dict(d, formats, config))
    if out:
        out[-1]["parquet_tables"] = parquet_tables(out)  # Arrow conversion here, not in the writing process
    return out


def export_pass(cfg: CurateConfig, work: Path, progress: Progress, executor, stages: Iterable[Stage],
                stats: dict[str, Any], read_errors: Iterable[dict]) -> Path:
    """Pass 3: the last whole-dataset stage and its filters, then the bundle. `stats` are the earlier
    passes' pipeline stats; `read_errors` the rejected.jsonl entries of unreadable input."""
    lay = layout(stages)
    config = cfg.pipeline_dict()
    if lay.chunks:
        chunk = lay.chunks[-1]
        plan = chunk[0].plan(_keys_path(work, chunk[0]), cfg)
        stats = {**stats, chunk[0].name: chunk[0].stats(plan)}
        items: Iterable[tuple[str, Todo]] = ((line, todo) for line, _, todo in
                                             _todos(work, _stems(lay)[-1], chunk, plan))
    else:
        items = ((line, []) for line in read_jsonl(work / "records.jsonl", raw=True))
    last = [st.name for st in (lay.chunks[-1][0], *lay.chunks[-1][1])] if lay.chunks else []
    meter = Meter("+".join([*last, "export"]), progress)
    batch = functools.partial(export_batch, by_name=lay.by_name(), cfg=cfg, formats=list(cfg.formats), config=config)
    errors = (redact_rejected_entry(e) for e in read_errors)  # nothing rejected leaves in clear
    path = write_prepared(meter.wrap(executor.map_batches(batch, items)), errors, cfg.out, cfg.name, cfg.version,
                          config, parent_version=cfg.parent_version, formats=cfg.formats, stats=stats)
    meter.done()
    return path


def whole_passes(lay: Layout) -> list[str]:
    """The names of the whole-dataset stages that get a pass of their own (all but the last)."""
    return [whole.name for whole, _ in lay.chunks[:-1]]


__all__ = ["Batch", "Filter", "Layout", "Map", "Sandbox", "Stage", "Whole", "apply_todo", "export_batch",
           "export_pass", "layout", "per_record_pass", "run_group", "transport", "whole_pass", "whole_passes"]
