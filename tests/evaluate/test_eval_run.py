"""End to end: `eval run` with a tiny random model (transformers backend) and with a fake OpenAI server;
failures become failed samples with reasons; an interrupted run resumes; `eval compare` pairs two runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.evaluate.config import EvalConfig
from codesft.evaluate.runner import run_eval

FENCE = "`" * 3

PROBLEMS = [
    {"task_id": "t/add", "prompt": "def add(a, b):\n    \"\"\"Sum.\n    >>> add(1, 2)\n    3\n    \"\"\"\n",
     "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "t/sub", "prompt": "def sub(a, b):\n", "canonical_solution": "    return a - b\n",
     "entry_point": "sub", "test": "assert sub(3, 1) == 2\nassert sub(0, 0) == 0\nassert sub(1, 3) == -2\n"},
    {"task_id": "t/mul", "prompt": "def mul(a, b):\n", "canonical_solution": "    return a * b\n",
     "entry_point": "mul", "test": "def check(candidate):\n    assert candidate(2, 3) == 6\n"},
    {"task_id": "t/div", "prompt": "def div(a, b):\n", "canonical_solution": "    return a // b\n",
     "entry_point": "div", "test": "def check(candidate):\n    assert candidate(7, 2) == 3\n"},
    {"task_id": "t/neg", "prompt": "def neg(a):\n", "canonical_solution": "    return -a\n",
     "entry_point": "neg", "test": "def check(candidate):\n    assert candidate(2) == -2\n"},
]


@pytest.fixture
def bench(tmp_path) -> str:
    p = tmp_path / "problems.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in PROBLEMS))
    return f"jsonl:{p}"


def _results(out: Path) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def test_tiny_model_run_writes_results_summary_report(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "run"
    cfg = EvalConfig(model=str(tiny_model_dir), benchmark=bench, n=2, temperature=0.8, max_new_tokens=12,
                     batch_size=4, out=str(out), timeout_s=5, ks=[1, 2], n_at_k=["1@2"])
    run_eval(cfg, log=lambda s: None)
    res = _results(out)
    assert len(res) == len(PROBLEMS) * 2
    for r in res.values():
        # a random model writes garbage: every sample is recorded, failed with a reason, raw output kept
        assert r["raw_output"] is not None and r["n_tokens"] > 0
        assert r["passed"] is False and r["reason"]
        assert isinstance(r["mean_logprob"], float) and r["mean_logprob"] < 0  # n > 1: kept for n@k ranking
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["pass@k"]["pass@1"]["value"] == 0.0 and "pass@2" in summary["metrics"]["pass@k"]
    assert summary["metrics"]["1@2"]["ranking"] == "public_tests"
    assert summary["model"]["kind"] == "local" and summary["model"]["revision"].startswith("dir-fingerprint:")
    assert summary["benchmark"]["sha256"] and summary["generation"]["n"] == 2
    assert summary["generated_on"] == [f"cpu ({os.cpu_count()} cores)"]
    html = (out / "report.html").read_text()
    assert "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_tiny_model_instruct_mode_uses_chat_template(tiny_model_dir, bench, tmp_path):
    out = tmp_path / "inst"
    run_eval(EvalConfig(model=str(tiny_model_dir), benchmark=bench, mode="instruct", max_new_tokens=8,
                        limit=2, out=str(out), text_metrics=False), log=lambda s: None)
    res = _results(out)
    assert len(res) == 2
    assert all(r["status"] in ("error", "failed") for r in res.values())
    assert all(r["mean_logprob"] is None for r in res.values())  # greedy n=1: no per-step scores kept


def _table():
    return {
        "def add(": [("ok", "    return a + b\n\ndef unused():\n    pass\n")],                      # correct, cut at stop
        "def sub(": [("ok", "I think the answer is ??? (((")],                                    # garbled
        "def mul(": [("http", 500), ("http", 503), ("ok", "    return a * b\n")],                 # retried, then correct
        "def div(": [("http", 400)],                                                             # request rejected
        "def neg(": [("ok", "    raise SystemExit(0)\n")],                                        # crashing program
    }


def test_openai_backend_failures_are_recorded_and_run_resumes(fake_openai, bench, tmp_path):
    server = fake_openai(_table())
    out = tmp_path / "api"
    # Scoring failed requests is opted into here; by default they stop the run (the test below).
    cfg = EvalConfig(model="fake", backend="openai", base_url=server.url, benchmark=bench, out=str(out),
                     max_retries=3, concurrency=2, timeout_s=5, allow_generation_errors=True)
    # no real backoff sleeps in tests
    import codesft.evaluate.backends as b
    orig = b.OpenAIBackend.__init__

    def fast_init(self, *a, **kw):
        orig(self, *a, **kw)
        self.backoff_s = 0.01
    b.OpenAIBackend.__init__ = fast_init
    try:
        run_eval(cfg, log=lambda s: None)
    finally:
        b.OpenAIBackend.__init__ = orig
    res = _results(out)
    assert res["t/add#0"]["passed"] and "unused" not in res["t/add#0"]["code"]
    assert res["t/mul#0"]["passed"]                       # survived two 5xx answers
    assert not res["t/sub#0"]["passed"] and res["t/sub#0"]["reason"]
    assert not res["t/div#0"]["passed"] and "HTTP 400" in res["t/div#0"]["reason"]
    assert not res["t/neg#0"]["passed"] and "SystemExit" in res["t/neg#0"]["reason"]
    calls_first = len(server.calls)
    assert calls_first == 7  # 5 problems + 2 retries

    # Interrupt: drop the last two generations and all execution progress, as if killed mid-run.
    gen = (out / "generations.jsonl").read_text().splitlines()
    (out / "generations.jsonl").write_text("\n".join(gen[:3]) + "\n" + gen[3][:10])  # a torn last line
    (out / "executions.partial.jsonl").unlink()
    (out / "results.jsonl").unlink()
    run_eval(cfg, log=lambda s: None)
    assert len(server.calls) - calls_first == 2          # only the two missing samples were requested again
    assert len(_results(out)) == 5
    # The resumed summary accounts for the generation time of both sittings, not only the second.
    # Every line parses: the torn line was cut, not glued to the first record of the second sitting.
    times = [json.loads(line)["time_s"] for line in (out / "generations.jsonl").read_text().splitlines()]
    timing = json.loads((out / "summary.json").read_text())["timing"]
    assert len(times) == 5 and min(times) > 0
    assert timing["generation_s"] == round(sum(times), 2)  # all five, the three kept from the first sitting too
    # Both sittings generated on the same server: recorded once, not once per sitting.
    assert json.loads((out / "summary.json").read_text())["generated_on"] == [f"served by {server.url}"]

    with pytest.raises(Exception, match="other settings"):
        run_eval(cfg.model_copy(update={"temperature": 0.5}), log=lambda s: None)


def test_failed_requests_stop_the_run_unscored_and_a_rerun_retries_only_them(fake_openai, bench, tmp_path):
    """Fail closed: a dead server or a rejected request is the harness's fault, never a score of 0."""
    from codesft.cli import app

    table = {k: v for k, v in _table().items() if k != "def mul("}  # no retried 5xx: one request per problem
    table["def div("] = [("http", 400), ("ok", "    return a // b\n")]  # rejected once, then answered
    server = fake_openai(table)
    out = tmp_path / "api"
    args = ["eval", "run", "--model", "fake", "--backend", "openai", "--base-url", server.url, "--benchmark", bench,
            "--out", str(out), "--max-retries", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "1 of 5 generation requests failed (first, t/div#0: HTTP 400" in result.output
    assert not (out / "results.jsonl").exists() and not (out / "summary.json").exists()
    calls = len(server.calls)
    result = CliRunner().invoke(app, args)  # the rerun asks again for the failed request only
    assert result.exit_code == 0, result.output
    assert len(server.calls) == calls + 1
    assert _results(out)["t/div#0"]["passed"]
    dead = CliRunner().invoke(app, ["eval", "run", "--model", "fake", "--backend", "openai", "--base-url",
                                    "http://127.0.0.1:9/v1", "--benchmark", bench, "--out", str(tmp_path / "dead"),
                                    "--max-retries", "0"])
    assert dead.exit_code == 1 and "5 of 5 generation requests failed" in dead.output, dead.output
    assert not (tmp_path / "dead" / "summary.json").exists()


def test_chat_endpoint_and_compare_cli(fake_openai, bench, tmp_path):
    server = fake_openai({"add": [("ok", f"Sure:\n{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}")],
                          "sub": [("ok", f"{FENCE}python\ndef sub(a, b):\n    return a - b\n{FENCE}")],
                          "mul": [("garbage", "not json")]})
    a, b_ = tmp_path / "a", tmp_path / "b"
    run_eval(EvalConfig(model="fake", backend="openai", base_url=server.url, benchmark=bench, mode="instruct",
                        out=str(b_), max_retries=0, allow_generation_errors=True), log=lambda s: None)
    res = _results(b_)
    assert server.calls[0]["path"] == "/v1/chat/completions"
    assert res["t/add#0"]["passed"] and res["t/sub#0"]["passed"]
    assert "malformed response" in res["t/mul#0"]["reason"]
    # baseline: score a file of wrong completions
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": "    return 0\n"}) + "\n"
                               for p in PROBLEMS))
    from codesft.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["eval", "score", "--benchmark", bench, "--samples", str(samples), "--out", str(a)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "compare", str(a), str(b_), "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    c = rep["comparisons"][0]
    assert c["won"] == ["t/add", "t/sub"] and c["lost"] == [] and c["difference"] == pytest.approx(2 / 5)
    assert c["mcnemar"]["solved_only_by_candidate"] == 2 and 0 < c["mcnemar"]["p_value"] <= 1
    assert c["ci95"][0] <= c["difference"] <= c["ci95"][1]
    assert (tmp_path / "cmp" / "comparison.html").read_text().count("<svg") == 1


def test_cli_run_config_file_and_overrides(fake_openai, bench, tmp_path):
    server = fake_openai({"def ": [("ok", "    return None\n")]})
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(f"backend: openai\nmodel: fake\nbase_url: {server.url}\nbenchmark: '{bench}'\nn: 1\n")
    from codesft.cli import app

    r = CliRunner().invoke(app, ["eval", "run", "--config", str(cfg), "--limit", "2", "--out", str(tmp_path / "o"),
                                 "--no-text-metrics"])
    assert r.exit_code == 0, r.output
    assert len(_results(tmp_path / "o")) == 2
    r = CliRunner().invoke(app, ["eval", "run", "--config", str(cfg), "--bogus", "1"])
    assert r.exit_code == 2 and "bogus" in r.output


def test_requests_in_flight_at_once_record_their_share_of_the_wall_time(openai_server):
    """Eight answers, four in flight, each taking 0.3 s on the server: their recorded times sum to the wall time
    of generating (about 0.6 s), not to the 2.4 s of overlapping latencies (which made a 16-slot llama.cpp
    evaluation read 16 times its real duration)."""
    import time

    from codesft.evaluate.backends import GenRequest, OpenAIBackend

    def slow(body):
        time.sleep(0.3)
        return "ok", "```python\ndef f():\n    return 1\n```"

    server = openai_server(slow)
    backend = OpenAIBackend(server.url, "m", concurrency=4, max_retries=0)
    t0 = time.perf_counter()
    gens = [g for batch in backend.generate([GenRequest(key=f"k{i}", messages=[{"role": "user", "content": "x"}])
                                             for i in range(8)]) for g in batch]
    wall = time.perf_counter() - t0
    assert len(gens) == 8 and all(g.time_s >= 0 for g in gens) and sum(g.time_s for g in gens) > 0
    assert sum(g.time_s for g in gens) <= wall  # overlapping latencies would sum to >= 8 x 0.3 s
    assert sum(g.time_s for g in gens) < 8 * 0.3
