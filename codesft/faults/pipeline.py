"""`generate_faults(bundle_path, config) -> Path`: read a bundle, attach faults, write a new bundle version.

Per batch of samples: generate K candidates each -> drop non-parsing and identical ones -> run the
survivors AND the correct solution against the sample's tests in the sandbox (one `imap` on the run's
one `SandboxPool` per batch, programs built by `codesft.sandbox.programs.program_for` as curate's verify
builds them; the correct solution is the control: if it does not pass, a failing variant proves
nothing) -> keep failing variants -> pick the most similar -> diff spans -> `Sample.fault`.
Samples with no surviving variant keep `fault = None` and are counted by reason in the new
bundle's summary (`pipeline.faults`) and in the returned report. A sample without tests (or a run with
`verify: false`) still gets its most similar variant, marked `verified_failing: None` and counted as
`unverified`: nothing shows it is wrong, so `codesft train` leaves it out unless told otherwise
(`allow_unverified_faults`).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from codesft.bundle.staging import batched, staged
from codesft.faults.config import FaultsConfig
from codesft.faults.generators import Candidate, make_generator
from codesft.faults.similarity import EmbeddingSimilarity, edit_similarity
from codesft.faults.spans import diff_spans
from codesft.pycode import parses
from codesft.sandbox.programs import program_for
from codesft.schema import Fault, Sample


@dataclass
class FaultReport:
    eligible: int = 0
    with_fault: int = 0
    unverified: int = 0  # faults whose variant never ran against tests (verified_failing None)
    reasons: Counter = field(default_factory=Counter)  # why a sample got no fault
    without_fault: dict[str, str] = field(default_factory=dict)  # sample_id -> reason
    operators: Counter = field(default_factory=Counter)
    candidates: int = 0

    def to_dict(self, limit: int = 200) -> dict[str, Any]:
        return {"eligible": self.eligible, "with_fault": self.with_fault, "verified_failing": self.with_fault - self.unverified,
                "unverified": self.unverified, "candidates": self.candidates,
                "without_fault_by_reason": dict(sorted(self.reasons.items())),
                "without_fault": dict(list(sorted(self.without_fault.items()))[:limit]),
                "operators": dict(sorted(self.operators.items()))}


def _eligible(s: Sample, config: FaultsConfig) -> bool:
    return (s.quality.decision != "rejected" and s.code is not None and bool(s.code.solution)
            and s.code.language == "python" and (s.split is None or s.split.assignment in config.splits))


def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def open_pool(config: FaultsConfig) -> Any:
    """The run's one sandbox pool (the caller closes it), after the canary under the variants' limits: a
    sandbox that fails correct programs would make every variant look like a verified fault. Raises
    HarnessFault. None when the run does not verify."""
    if not config.verify:
        return None
    from codesft.sandbox import SandboxPool
    from codesft.evaluate.canary import check_sandbox

    limits = config.sandbox_settings().limits()
    check_sandbox(limits, workers=config.workers)
    return SandboxPool(limits, config.workers).__enter__()


def _verify(batch: list[Sample], cands: list[list[Candidate]], config: FaultsConfig, pool: Any) -> dict[str, Any]:
    """Sandbox statuses keyed "i:control" and "i:j" for samples that have tests."""
    from codesft.sandbox import run_many

    programs = []
    for i, (s, cs) in enumerate(zip(batch, cands)):
        if not s.code.tests or not cs:
            continue
        programs.append(program_for(s, s.code.solution, id=f"{i}:control"))
        programs.extend(program_for(s, c.code, id=f"{i}:{j}") for j, c in enumerate(cs))
    if not programs:
        return {}
    if pool is not None:
        return {r.id: r for r in pool.imap(programs)}
    return {r.id: r for r in run_many(programs, limits=config.sandbox_settings().limits(), workers=config.workers)}


def _valid_candidates(s: Sample, cs: list[Candidate]) -> list[Candidate]:
    """The variants worth running: they parse, differ from the solution and from each other."""
    seen: set[str] = set()
    keep = []
    for c in cs:
        if parses(c.code) and not _same(c.code, s.code.solution) and c.code.strip() not in seen:
            seen.add(c.code.strip())
            keep.append(c)
    return keep


def attach_faults(batch: list[Sample], config: FaultsConfig, generator: Any, similarity: Any,
                  report: FaultReport, pool: Any = None) -> list[Sample]:
    """Faults for one batch of eligible samples (returns copies). `pool`: the run's `SandboxPool` (see
    `open_pool`); without one, the batch starts its own sandbox workers."""
    raw = generator.generate(batch)
    cands = [_valid_candidates(s, cs) for s, cs in zip(batch, raw)]
    report.candidates += sum(len(cs) for cs in raw)
    results = _verify(batch, cands, config, pool) if config.verify else {}
    out = []
    for i, (s, cs) in enumerate(zip(batch, cands)):
        s = s.model_copy(deep=True)
        report.eligible += 1
        has_tests = bool(s.code.tests) and config.verify
        survivors: list[tuple[Candidate, Any]] = []
        reason = None
        if not cs:
            reason = "no_valid_variant"
        elif has_tests and not results[f"{i}:control"].passed:
            reason = f"correct_solution_{results[f'{i}:control'].status}"
        else:
            for j, c in enumerate(cs):
                r = results.get(f"{i}:{j}") if has_tests else None
                if r is None or not r.passed:
                    survivors.append((c, r))
            if not survivors:
                reason = "no_failing_variant"
        if reason is not None:
            report.reasons[reason] += 1
            report.without_fault[s.sample_id] = reason
            out.append(s)
            continue
        if similarity is None:
            scores = [edit_similarity(s.code.solution, c.code) for c, _ in survivors]
            method = "edit"
        else:
            scores = similarity.scores(s.code.solution, [c.code for c, _ in survivors])
            method = similarity.method
        best = max(range(len(survivors)), key=lambda j: (scores[j], -j))  # ties: generation order
        cand, result = survivors[best]
        correct_spans, incorrect_spans = diff_spans(s.code.solution, cand.code)
        s.fault = Fault(
            incorrect=cand.code, generator=config.generator, operator=cand.operator,
            similarity=round(float(scores[best]), 6), similarity_method=method,
            verified_failing=(True if result is not None else None),
            verification=(f"{result.status}: {result.reason}"[:300] if result is not None else None),
            correct_spans=correct_spans, incorrect_spans=incorrect_spans, candidates_tried=len(raw[i]))
        report.with_fault += 1
        if result is None:  # no tests (or verify off): nothing ran the variant
            report.unverified += 1
        report.operators[cand.operator.split(":")[0]] += 1
        out.append(s)
    return out


def _with_faults(bundle: Any, config: FaultsConfig, report: FaultReport, pool: Any) -> Iterator[Sample]:
    """Every record of the bundle, in order: eligible ones through `attach_faults`, all with the lineage."""
    generator = make_generator(config)
    similarity = EmbeddingSimilarity(config.embedder) if config.embedder else None
    lineage = f"{bundle.name}@{bundle.version}"
    for batch in batched(bundle.samples(), config.batch_size):
        eligible = [s for s in batch if _eligible(s, config)]
        done = iter(attach_faults(eligible, config, generator, similarity, report, pool)) if eligible else iter(())
        for s in batch:
            s = next(done) if _eligible(s, config) else s
            if lineage not in s.provenance.lineage:
                s.provenance.lineage = [*s.provenance.lineage, lineage]
            yield s


def generate_faults(bundle_path: str | Path, config: FaultsConfig | dict | None = None,
                    report: FaultReport | None = None) -> Path:
    """Write a new version of the bundle whose eligible records carry `fault`; returns its path."""
    from codesft.bundle import load_bundle, write_bundle

    config = config if isinstance(config, FaultsConfig) else FaultsConfig.model_validate(config or {})
    path = Path(bundle_path)
    if not path.exists():
        raise FileNotFoundError(f"bundle not found: {path}")
    bundle = load_bundle(path)
    report = report if report is not None else FaultReport()
    bundle_config = dict(bundle.config())
    bundle_config["faults"] = config.model_dump(mode="json")
    version = config.version or f"{bundle.version}+faults"
    out_root = Path(config.out) if config.out else bundle.path.parent.parent
    pool = open_pool(config)  # one sandbox pool for the whole run; the canary runs before anything is written
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        # The report goes into the new bundle's summary, so the records are staged in a temp file first
        # and the bundle is written once the counts are known.
        with tempfile.TemporaryDirectory(dir=out_root, prefix=".faults-") as td:
            records = staged(_with_faults(bundle, config, report, pool), Path(td) / "samples.jsonl")
            return write_bundle(records, bundle.rejected(), out_root, bundle.name, version, bundle_config,
                                parent_version=bundle.version, formats=bundle.manifest.get("formats"),
                                stats={"faults": report.to_dict()})
    finally:
        if pool is not None:
            pool.close()
