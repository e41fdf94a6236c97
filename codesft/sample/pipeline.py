"""`sample_bundle(bundle_path, config) -> Path`: draw k answers per record from a model, run them in the
sandbox, keep a passing one, and write a new bundle version.

Per batch of eligible records (train/validation, with tests and a reference, a plain chat): the answers not
yet in the work log are generated and executed (one `SandboxPool` for the run, after the canary), then
appended to it; records that no answer solved get one re-solve request with the reference in view. When
every answer is in, each record is rebuilt from its answers (`records.sampled_record`), staged, and the
bundle is written once the counts are known. A killed run resumes from the work log; the bundle is built
only from it, so a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesft.bundle.staging import batched, staged
from codesft.sample.answers import RESOLVE_INDEX, answer_key
from codesft.sample.config import SampleConfig
from codesft.sample.generate import (
    prompt_sha256,
    prompt_turns,
    resolve_turns,
    run_batch,
)
from codesft.sample.records import sampled_record, siblings
from codesft.sample.work import WorkLog
from codesft.schema import Sample

Log = Callable[[str], None]


@dataclass
class SampleReport:
    """The manifest's `sample` counts."""
    problems: int = 0
    samples: int = 0
    passed: int = 0
    resolved: int = 0
    unsolved: int = 0
    solved_all: int = 0
    faults: int = 0
    siblings: int = 0  # extra records of `--keep N`
    tokens: int = 0  # generated tokens over every answer
    histogram: Counter = field(default_factory=Counter)  # "passed/k" -> records
    failures: Counter = field(default_factory=Counter)  # answer status -> answers
    skipped: Counter = field(default_factory=Counter)  # why a record in a sampled split was not sampled

    def add(self, s: Sample, drawn: int) -> None:
        info = s.sampling
        self.problems += 1
        self.samples += drawn
        self.passed += info.passed
        self.resolved += info.resolved
        self.unsolved += info.unsolved
        self.solved_all += info.passed == info.k
        self.faults += s.fault is not None and s.fault.generator == "self"
        self.histogram[f"{info.passed}/{info.k}"] += 1
        self.failures.update(info.failures)

    def to_dict(self) -> dict[str, Any]:
        hist = dict(sorted(self.histogram.items(), key=lambda kv: int(kv[0].split("/")[0])))
        return {"problems": self.problems, "samples": self.samples, "passed": self.passed,
                "pass_rate_histogram": hist, "resolved": self.resolved, "unsolved": self.unsolved,
                "solved_all": self.solved_all, "faults": self.faults, "extra_records": self.siblings,
                "generated_tokens": self.tokens,
                "failures": dict(sorted(self.failures.items())), "skipped": dict(sorted(self.skipped.items()))}


def _why_not(s: Sample, cfg: SampleConfig) -> str | None:
    """Why a record is not sampled (None: it is). Records outside the chosen splits are not counted."""
    if s.quality.decision == "rejected" or s.split is None or s.split.assignment not in cfg.splits:
        return "split"
    if s.code is None or not s.code.tests or not s.code.solution or s.code.language != "python":
        return "no_tests"
    if prompt_turns(s) is None:
        return "not_a_plain_chat"
    return None


class _Sampler:
    """Fills the work log: the missing self-samples of a batch, then the missing re-solves."""

    def __init__(self, cfg: SampleConfig, work: WorkLog, pool: Any, log: Log) -> None:
        self.cfg, self.work, self.pool, self.log = cfg, work, pool, log
        self.backend: Any = None  # built on first need: a fully resumed run loads no model

    def _run(self, jobs: list[tuple[Sample, int, list[dict[str, str]]]]) -> None:
        if not jobs:
            return
        if self.backend is None:
            from codesft.sample.generate import build_backend, engine_of

            self.backend = build_backend(self.cfg)
            self.work.set_engine(engine_of(self.backend, self.cfg))
        self.work.add(run_batch(jobs, self.backend, self.cfg, self.pool))

    def close(self) -> None:
        """Stop what the backend runs (the managed llama-server) on every way out, Ctrl-C included."""
        if self.backend is not None:
            self.backend.close()

    def batch(self, batch: list[Sample]) -> None:
        have = self.work.answers
        self._run([(s, i, prompt_turns(s)) for s in batch for i in range(self.cfg.k)
                   if answer_key(s.sample_id, i) not in have])
        if self.cfg.resolve:
            unsolved = [s for s in batch if not any(have[answer_key(s.sample_id, i)].passed for i in range(self.cfg.k))]
            self._run([(s, RESOLVE_INDEX, resolve_turns(s, prompt_turns(s))) for s in unsolved
                       if answer_key(s.sample_id, RESOLVE_INDEX) not in have])
        self.log(f"sample: {len(have)} answers generated and executed")


def _eligible(bundle: Any, cfg: SampleConfig) -> Iterator[Sample]:
    """The records this run samples: eligible ones, in bundle order, the first `limit` of them."""
    n = 0
    for s in bundle.samples():
        if _why_not(s, cfg) is None and (cfg.limit is None or n < cfg.limit):
            n += 1
            yield s


def _fill(bundle: Any, cfg: SampleConfig, work: WorkLog, log: Log) -> None:
    from codesft.evaluate.canary import check_sandbox
    from codesft.sandbox import SandboxPool

    limits = cfg.sandbox_settings().limits()
    check_sandbox(limits, workers=cfg.workers)  # raises HarnessFault before any answer is judged
    with SandboxPool(limits, cfg.workers) as pool:
        sampler = _Sampler(cfg, work, pool, log)
        try:
            for batch in batched(_eligible(bundle, cfg), cfg.batch_size):
                sampler.batch(batch)
        finally:
            sampler.close()


def _decontam_config(bundle: Any) -> Any:
    """The decontamination settings the bundle was curated with (curate's defaults when it names none)."""
    from codesft.curate.config import DecontamConfig

    return DecontamConfig.model_validate(bundle.config().get("decontam") or {})


def _gated(s: Sample, answers: list[Any], cfg: SampleConfig, engine: str, decontam: Any) -> list[Sample]:
    """The sampled record whose kept answer passes decontamination: a model may answer with a benchmark's
    text it memorised, which the reference (already gated by curate) did not hold. Such an answer is barred
    and the next one chosen, down to the reference. Returns the record, then its `--keep` siblings."""
    from codesft.curate.decontam import verdict

    barred: set[int] = set()
    while True:
        out = sampled_record(s, answers, cfg, engine, prompt_sha256(prompt_turns(s)), frozenset(barred))
        info = out.sampling
        if info.kept == "reference" or verdict(out, decontam) is None:
            if barred:
                out.quality.warnings = [*out.quality.warnings, f"sample:contaminated_answers:{len(barred)}"]
            if out.quality.decision == "rejected":
                return [out]
            return [out, *(x for x in siblings(out, answers, cfg, frozenset(barred)) if verdict(x, decontam) is None)]
        kept = next(a for a in answers if a.passed and a.index not in barred and a.code == out.code.solution)
        barred.add(kept.index)


def _records(bundle: Any, cfg: SampleConfig, work: WorkLog, report: SampleReport, engine: str) -> Iterator[Sample]:
    lineage = f"{bundle.name}@{bundle.version}"
    decontam = _decontam_config(bundle)
    n = 0  # eligible records so far: beyond `limit`, copied unchanged (the same choice as `_eligible`)
    for s in bundle.samples():
        why = _why_not(s, cfg)
        if why is None:
            if cfg.limit is not None and n >= cfg.limit:
                why = "limit"
            else:
                n += 1
        if why is None:
            answers = [a for i in [*range(cfg.k), RESOLVE_INDEX]
                       if (a := work.answers.get(answer_key(s.sample_id, i))) is not None]
            out = _gated(s, answers, cfg, engine, decontam)
            report.add(out[0], drawn=len(answers))
            report.tokens += sum(a.n_tokens for a in answers)
            report.siblings += len(out) - 1
        else:
            out = [s]
            if why != "split":
                report.skipped[why] += 1
            if why != "split" and cfg.rest == "drop":
                s.quality.decision = "rejected"
                s.quality.reasons = [*s.quality.reasons, f"not_sampled: {why}"]
        for rec in out:
            if lineage not in rec.provenance.lineage:
                rec.provenance.lineage = [*rec.provenance.lineage, lineage]
            yield rec


def sample_bundle(bundle_path: str | Path, config: SampleConfig | dict[str, Any], report: SampleReport | None = None,
                  log: Log = lambda m: print(m, file=sys.stderr)) -> Path:
    """Write `<version>+sample` (or `config.version`) of the bundle; returns its path."""
    from codesft.bundle import ALL_FORMATS, load_bundle, prepare, write_prepared

    cfg = config if isinstance(config, SampleConfig) else SampleConfig.model_validate(config)
    path = Path(bundle_path)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(f"bundle not found: {path}")
    bundle = load_bundle(path)
    report = report if report is not None else SampleReport()
    version = cfg.version or f"{bundle.version}+sample"
    out_root = Path(cfg.out) if cfg.out else bundle.path.parent.parent
    settings = {**cfg.generation_settings(), "bundle": f"{bundle.name}@{bundle.version}"}
    work = WorkLog(out_root / bundle.name / f".sample-v{version}", settings, cfg.resume)
    _fill(bundle, cfg, work, log)
    # Where the run wrote and which port served it are this machine's details, not the data's: left out so a
    # rerun elsewhere (or a resumed run against a restarted server) writes the same bytes.
    bundle_config = {**bundle.config(),
                     "sample": cfg.model_dump(mode="json", exclude={"out", "resume", "workers", "base_url"})}
    formats = list(bundle.manifest.get("formats") or ALL_FORMATS)
    with tempfile.TemporaryDirectory(dir=out_root, prefix=".sample-") as td:
        records = staged(_records(bundle, cfg, work, report, work.engine or cfg.backend), Path(td) / "samples.jsonl")
        counts = report.to_dict()
        return write_prepared((prepare(s, formats, bundle_config) for s in records), bundle.rejected(), out_root,
                              bundle.name, version, bundle_config, parent_version=bundle.version, formats=formats,
                              stats={"sample": counts}, manifest_extra={"sample": counts})
