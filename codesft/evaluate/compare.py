"""Paired comparison of eval runs on the same problems.

The unit is the problem: each run's per-problem pass@1 (the mean of its samples' verdicts; 0/1 with n=1) is
paired by task id. Reported: difference in mean pass@1 with a paired percentile bootstrap CI (resampling
problems), McNemar's exact test on problems solved (pass@1 >= 0.5) by one run but not the other, the problems
won and lost (with the kind each run failed them with, codesft.evaluate.kinds), and the difference per category.
Runs are compared against the first (the baseline); a significant regression (McNemar p < 0.05 with a negative
difference) is stated in plain words (`verdict`), first in the text output and at the top of comparison.html.

Only problems present in both runs are paired; the others are dropped, and the comparison lists them with the
run that lacks them (`dropped`), so a partial run never passes for a like-for-like comparison.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from codesft.evaluate.kinds import kind_of_record, main_failure_kind
from codesft.evaluate.results import atomic_write_json, read_jsonl

_LISTED = 20  # dropped task ids named in the text and HTML; comparison.json holds them all
SIGNIFICANCE = 0.05  # McNemar p below this, with a negative difference, is stated as a regression


def _per_problem(run_dir: Path) -> tuple[dict[str, float], dict[str, str], dict[str, Any], dict[str, str | None]]:
    # strict: results.jsonl is written whole, so a line that does not parse is damage, not a torn append, and
    # skipping it would drop a sample from the comparison unseen.
    results = read_jsonl(run_dir / "results.jsonl", strict=True)
    if not results:
        raise FileNotFoundError(f"{run_dir}: no results.jsonl (run `codesft eval run` or `eval score` first)")
    for lineno, r in enumerate(results, start=1):
        if not isinstance(r.get("task_id"), str) or not isinstance(r.get("passed"), bool):
            raise ValueError(f"{run_dir / 'results.jsonl'}: record {lineno} has no task_id or passed verdict")
    flags: dict[str, list[bool]] = defaultdict(list)
    kinds: dict[str, list[str]] = defaultdict(list)
    cats: dict[str, str] = {}
    for r in results:
        flags[r["task_id"]].append(bool(r["passed"]))
        kinds[r["task_id"]].append(kind_of_record(r))  # a file from before kinds: computed, or `unknown`
        cats[r["task_id"]] = r.get("category", "all")
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    failed_with = {t: main_failure_kind(v) for t, v in kinds.items()}
    return {t: float(np.mean(v)) for t, v in flags.items()}, cats, summary, failed_with


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value (binomial test on the discordant pairs)."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def paired(a: dict[str, float], b: dict[str, float], cats: dict[str, str], n_boot: int = 2000,
           seed: int = 0) -> dict[str, Any]:
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("the runs share no problems")
    x = np.array([a[t] for t in common])
    y = np.array([b[t] for t in common])
    d = y - x
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    boots = d[idx].mean(axis=1)
    won = [t for t in common if b[t] > a[t]]
    lost = [t for t in common if b[t] < a[t]]
    sa, sb = x >= 0.5, y >= 0.5
    n_b_only, n_a_only = int((sb & ~sa).sum()), int((sa & ~sb).sum())
    per_cat: dict[str, dict[str, Any]] = {}
    by_cat: dict[str, list[str]] = defaultdict(list)
    for t in common:
        by_cat[cats.get(t, "all")].append(t)
    for c, ts in sorted(by_cat.items()):
        per_cat[c] = {"problems": len(ts), "baseline": float(np.mean([a[t] for t in ts])),
                      "candidate": float(np.mean([b[t] for t in ts])),
                      "difference": float(np.mean([b[t] - a[t] for t in ts])),
                      "won": sum(b[t] > a[t] for t in ts), "lost": sum(b[t] < a[t] for t in ts)}
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    return {
        "problems": len(common), "only_in_baseline": len(only_a), "only_in_candidate": len(only_b),
        "dropped": {"only_in_baseline": only_a, "only_in_candidate": only_b},
        "pass@1_baseline": float(x.mean()), "pass@1_candidate": float(y.mean()),
        "difference": float(d.mean()),
        "ci95": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
        "mcnemar": {"solved_only_by_candidate": n_b_only, "solved_only_by_baseline": n_a_only,
                    "p_value": mcnemar_exact(n_b_only, n_a_only)},
        "won": won, "lost": lost, "per_category": per_cat,
    }


def with_kinds(entry: dict[str, Any], base_kinds: dict[str, str | None], cand_kinds: dict[str, str | None]) -> None:
    """Add, for each problem won and lost, the kind each run failed it with (None where that run solved every
    sample), and the counts of those kinds: the candidate's over the lost problems, the baseline's over the won."""
    entry["lost_kinds"] = [{"task_id": t, "baseline": base_kinds.get(t), "candidate": cand_kinds.get(t)}
                           for t in entry["lost"]]
    entry["won_kinds"] = [{"task_id": t, "baseline": base_kinds.get(t), "candidate": cand_kinds.get(t)}
                          for t in entry["won"]]
    entry["lost_by_kind"] = count_kinds_failed(cand_kinds.get(t) for t in entry["lost"])
    entry["won_by_kind"] = count_kinds_failed(base_kinds.get(t) for t in entry["won"])


def count_kinds_failed(kinds: Iterable[str | None]) -> dict[str, int]:
    """Counts of failing kinds, most common first."""
    return dict(Counter(k for k in kinds if k).most_common())


def is_regression(entry: dict[str, Any]) -> bool:
    """A significant regression: McNemar p < 0.05 with a negative difference in pass@1."""
    return entry["difference"] < 0 and entry["mcnemar"]["p_value"] < SIGNIFICANCE


def verdict_sentence(entry: dict[str, Any]) -> str:
    """One plain sentence on the candidate against the baseline; only a significant loss is a regression."""
    p, d = entry["mcnemar"]["p_value"], entry["difference"]
    lo, hi = entry["ci95"]
    numbers = (f"pass@1 {entry['pass@1_baseline']:.4f} -> {entry['pass@1_candidate']:.4f} ({d:+.4f}, 95% CI "
               f"[{lo:+.4f}, {hi:+.4f}], McNemar p={p:.4g}, {entry['problems']} problems)")
    if is_regression(entry):
        lost = ", ".join(f"{k} {n}" for k, n in entry.get("lost_by_kind", {}).items()) or "none"
        return (f"SIGNIFICANT REGRESSION: {entry['run']} is worse than the baseline: {numbers}. "
                f"It lost {len(entry['lost'])} problems, failing them with: {lost}.")
    if d > 0 and p < SIGNIFICANCE:
        return f"{entry['run']} is significantly better than the baseline: {numbers}."
    return f"{entry['run']} is not significantly different from the baseline (p >= {SIGNIFICANCE:g}): {numbers}."


def dropped_note(entry: dict[str, Any]) -> str:
    """One sentence on the problems a comparison left out and why ("" when it left none out)."""
    only_a, only_b = entry["dropped"]["only_in_baseline"], entry["dropped"]["only_in_candidate"]
    if not only_a and not only_b:
        return ""
    parts = []
    for ids, where in ((only_a, "only in the baseline run"), (only_b, "only in the candidate run")):
        if ids:
            more = f", ... {len(ids) - _LISTED} more" if len(ids) > _LISTED else ""
            parts.append(f"{len(ids)} {where} ({', '.join(ids[:_LISTED])}{more})")
    total = len(only_a) + len(only_b)
    return (f"dropped {total} of {entry['problems'] + total} problems, because each was evaluated in one run "
            f"only: {'; '.join(parts)}. The numbers are over the {entry['problems']} problems of both runs.")


def compare(dirs: list[str | Path], out: str | Path | None = None) -> dict[str, Any]:
    """Compare runs[1:] against runs[0]; writes comparison.json (and comparison.html) into `out` when given."""
    if len(dirs) < 2:
        raise ValueError("compare needs at least two run directories")
    runs = [Path(d) for d in dirs]
    loaded = [_per_problem(r) for r in runs]
    base, base_cats, base_sum, base_kinds = loaded[0]
    report: dict[str, Any] = {"baseline": str(runs[0]),
                              "baseline_model": base_sum.get("model", {}).get("source"),
                              "benchmark": base_sum.get("benchmark", {}).get("name"), "comparisons": []}
    for run, (cand, cats, s, cand_kinds) in zip(runs[1:], loaded[1:]):
        bench = s.get("benchmark", {}).get("name")
        if bench and report["benchmark"] and bench != report["benchmark"]:
            raise ValueError(f"{run} is on benchmark {bench}, the baseline on {report['benchmark']}")
        entry = {"run": str(run), "model": s.get("model", {}).get("source"), **paired(base, cand, {**base_cats, **cats})}
        with_kinds(entry, base_kinds, cand_kinds)
        entry["significant_regression"] = is_regression(entry)
        entry["verdict"] = verdict_sentence(entry)
        report["comparisons"].append(entry)
    if out is not None:
        outp = Path(out)
        outp.mkdir(parents=True, exist_ok=True)
        atomic_write_json(outp / "comparison.json", report)
        from codesft.evaluate.report import write_comparison_report

        write_comparison_report(outp, report)
    return report
