"""`codesft sample` end to end through the CLI, on a small bundle curated from the example assets, against a
fake OpenAI-compatible server whose answers are scripted per problem and per answer index (the request's
seed), so any request order gives the same answers."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle
from codesft.cli import app
from codesft.sandbox import program_for, run_many

ASSETS = Path(__file__).resolve().parents[2] / "codesft" / "data" / "examples" / "assets"

GCD_OK = "def gcd(a: int, b: int) -> int:\n    while b:\n        a, b = b, a % b\n    return a\n"
GCD_NEAR = "def gcd(a: int, b: int) -> int:\n    while b:\n        a, b = b, a % b\n    return b\n"
GCD_FAR = "def gcd(a, b):\n    raise NotImplementedError('later')\n"
FIB_OK = "def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
FIB_LONG = ("def fib(n: int) -> int:\n    if n < 2:\n        return n\n    a, b = 0, 1\n    for _ in range(n - 1):\n"
            "        a, b = b, a + b\n    return b\n")
CHUNK = "def chunk(items, size):\n    if size <= 0:\n        raise ValueError(size)\n    return [items[i:i + size] for i in range(0, len(items), size)]\n"
# A passing answer that also carries HumanEval/0 (prompt and reference solution) verbatim: a memorised benchmark.
with gzip.open(ASSETS.parent.parent / "benchmarks" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as _fh:
    _HE0 = json.loads(_fh.readline())
CONTAMINATED = _HE0["prompt"] + _HE0["canonical_solution"] + "\n\n" + CHUNK
CHUNK_LONG = CHUNK.replace("):\n", "):\n    \"\"\"" + "Split items into consecutive chunks of size items. " * 30 + "\"\"\"\n", 1)
WORDS_OWN = "def word_count(s):\n    return len([w for w in s.split() if w])\n"


def fenced(code: str) -> str:
    return f"Here is my solution:\n\n```python\n{code}```\n"


# substring of the request -> answer index (seed) -> ("ok", text) | ("http", status) | ("garbage", raw body)
SCRIPT: dict[str, Callable[[int], tuple[str, object]]] = {
    "A reference solution to this task follows": lambda i: ("ok", fenced(WORDS_OWN)),  # only word_count passes
    "greatest common divisor": lambda i: [("ok", fenced(GCD_OK)), ("ok", fenced(GCD_NEAR)), ("ok", fenced(GCD_FAR)),
                                          ("ok", "Sorry, I cannot help with that.")][i],
    "consecutive chunks": lambda i: [("ok", fenced(CONTAMINATED)), ("ok", fenced(CHUNK_LONG)), ("ok", ""), ("ok", "")][i],
    "Fibonacci": lambda i: ("ok", fenced(FIB_OK if i % 2 else FIB_LONG)),
    "count the words": lambda i: ("ok", fenced("def word_count(s):\n    return len(s.split(' '))\n")),
    "second largest": lambda i: [("http", 400), ("garbage", "not json {"), ("ok", "```python\ndef (:\n```"),
                                 ("ok", "")][i],
}


def scripted(body: dict) -> tuple[str, object]:
    """SCRIPT's answer to a request (an empty answer when nothing matches)."""
    text = json.dumps(body["messages"])
    key = next((k for k in SCRIPT if k in text), None)
    return SCRIPT[key](int(body["seed"]) % 4) if key else ("ok", "")


@pytest.fixture
def server(openai_server):
    """`server(stall=None)`: the scripted model (tests/conftest.py's ScriptedOpenAI answering from SCRIPT)."""
    return lambda stall=None: openai_server(scripted, stall)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """Curated by `codesft curate` from the example assets: 8 train records with tests, 1 test-split one."""
    from codesft.cli import app

    out = tmp_path_factory.mktemp("sample-bundle")
    result = CliRunner().invoke(app, ["curate", "--out", str(out), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}",
                                      "--input", f"eval_questions:{ASSETS / 'mbpp_style.jsonl'}"])
    assert result.exit_code == 0, result.output
    return out / "b" / "v1.0.0"


K = 4


def _args(bundle: Path, url: str, out: Path, *extra: str) -> list[str]:
    return ["sample", str(bundle), "--model", "student", "--backend", "openai", "--base-url", url, "--k", str(K),
            "--out", str(out), "--batch-size", "2", "--max-retries", "0", *extra]


def _run(bundle: Path, url: str, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(app, _args(bundle, url, out, *extra))
    assert result.exit_code == 0, result.output
    return out / "b" / "v1.0.0+sample"


def _by_entry(path: Path) -> dict:
    return {(s.code.entry_point or s.code.solution.split("(")[0][4:]): s for s in load_bundle(path).samples()}


def _digests(bundle: Path) -> dict[str, str]:
    return {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bundle.rglob("*")) if p.is_file()}


def test_sample_keeps_passing_answers_and_the_nearest_failing_one_as_fault(bundle, server, tmp_path):
    srv = server()
    new = _run(bundle, srv.url, tmp_path / "out")
    recs = _by_entry(new)
    gcd = recs["gcd"]
    # pass_rate: 1 of the 4 scripted answers passes; the kept answer is it, and it passes in the sandbox
    assert gcd.sampling.pass_rate == 0.25 and gcd.sampling.passed == 1 and gcd.sampling.k == K
    assert gcd.code.solution == GCD_OK and GCD_OK.strip() in gcd.messages[-1].content
    assert gcd.metadata.difficulty == "medium" and gcd.sampling.kept == "self"
    # the near miss, not the far failure, is the fault; the garbage answer is counted, never a fault
    assert gcd.fault.incorrect == GCD_NEAR and gcd.fault.generator == "self" and gcd.fault.verified_failing
    assert gcd.fault.correct_spans.token and gcd.fault.incorrect_spans.line
    assert gcd.sampling.failures == {"failed": 2, "no_code": 1}
    # the reference is kept, in its own field and in the lineage
    ref = {s.sample_id: s for s in load_bundle(bundle).samples()}[gcd.sample_id]
    assert gcd.sampling.reference_solution == ref.code.solution
    assert gcd.sampling.reference_answer == ref.messages[-1].content and "b@1.0.0" in gcd.provenance.lineage
    fib = recs["fib"]
    assert fib.sampling.pass_rate == 1.0 and fib.metadata.difficulty == "solved" and fib.code.solution == FIB_OK
    kept = [s for s in recs.values() if s.sampling and s.sampling.kept != "reference"]
    results = list(run_many([program_for(s, s.code.solution) for s in kept]))
    assert len(kept) == 4 and all(r.passed for r in results), [r.reason for r in results]
    summary = json.loads((new / "manifest.json").read_text())["sample"]
    hist = {"0/4": 5, "1/4": 1, "2/4": 1, "4/4": 1}
    assert summary["problems"] == 8 and summary["pass_rate_histogram"] == hist
    assert summary["faults"] == 1 + 1 and summary["resolved"] == 1 and summary["unsolved"] == 4
    # the same gate as curate: the answer holding a benchmark's solution is never kept; the next one is
    chunk = recs["chunk"]
    assert chunk.sampling.pass_rate == 0.5 and chunk.code.solution == CHUNK_LONG
    assert "sample:contaminated_answers:1" in chunk.quality.warnings
    assert "has_close_elements" not in (new / "samples.jsonl").read_text()
    report = (new / "report.html").read_text()
    assert "pass-rate histogram" in report and "0/4" in report and "4/4" in report


def test_unsolved_problem_is_resolved_with_the_reference_in_view(bundle, server, tmp_path):
    srv = server()
    recs = _by_entry(_run(bundle, srv.url, tmp_path / "out"))
    words = recs["word_count"]
    assert words.sampling.pass_rate == 0.0 and words.metadata.difficulty == "unsolved"
    assert words.sampling.resolved and not words.sampling.unsolved and words.code.solution == WORDS_OWN
    resolve = [c for c in srv.calls if "A reference solution" in json.dumps(c["messages"]) and "count the words" in json.dumps(c["messages"])]
    assert len(resolve) == 1 and words.sampling.reference_solution.strip() in resolve[0]["messages"][-1]["content"]
    # the training prompt stays the task alone: the reference is shown only to the re-solve request
    assert "A reference solution" not in words.user_text()
    # nothing passed: the reference stays, flagged unsolved
    second = recs["second_largest"]
    assert second.sampling.unsolved and second.sampling.kept == "reference" and "sample:unsolved" in second.quality.warnings
    assert second.code.solution == second.sampling.reference_solution


def test_bad_answers_are_recorded_and_never_abort_the_run(bundle, server, tmp_path):
    srv = server()
    new = _run(bundle, srv.url, tmp_path / "out", "--no-resolve", "--solved", "drop")
    recs = _by_entry(new)
    # --solved drop: the problem every answer solved goes to rejected.jsonl, with its reason
    dropped = [json.loads(line) for line in (new / "rejected.jsonl").read_text().splitlines()]
    assert "fib" not in recs and any(d["reason"].startswith("solved_by_model") for d in dropped)
    assert not any(s.sampling and s.sampling.resolved for s in recs.values())
    second = recs["second_largest"]  # HTTP 400, malformed JSON, code that does not parse, an empty answer
    assert second.sampling.failures == {"empty": 1, "request_failed": 2, "syntax_error": 1}
    assert second.fault is None or second.fault.generator != "self"
    # the test split is never sampled and no request names its problem
    held = [s for s in load_bundle(tmp_path / "out" / "b" / "v1.0.0+sample").samples() if s.split.assignment == "test"]
    assert held and all(s.sampling is None for s in held)
    assert not any("flatten" in json.dumps(c["messages"]) for c in srv.calls)
    # its work dir holds answers drawn with other settings: refused, not mixed in
    other = CliRunner().invoke(app, _args(bundle, srv.url, tmp_path / "out", "--no-resolve", "--temperature", "0.2"))
    assert other.exit_code == 2 and "other settings (temperature)" in other.output


def test_a_backend_that_is_down_stops_the_run_without_a_bundle(bundle, server, tmp_path):
    srv = server()
    url = srv.url
    srv.stop()  # nothing listens there any more: every request fails
    result = CliRunner().invoke(app, _args(bundle, url, tmp_path / "out"))
    assert result.exit_code == 1 and "every request of a batch failed" in result.output
    assert not (tmp_path / "out" / "b" / "v1.0.0+sample").exists()


def test_same_seed_gives_byte_identical_bundles_and_keep_n_keeps_distinct_answers(bundle, server, tmp_path):
    srv = server()
    a, b = (_run(bundle, srv.url, tmp_path / d, "--keep", "3") for d in ("a", "b"))
    assert _digests(a) == _digests(b)
    # --keep 3: fib's answers hold two distinct passing codes -> two records of one group and split
    fibs = [s for s in load_bundle(a).samples() if s.code.entry_point == "fib"]
    assert sorted(s.code.solution for s in fibs) == sorted([FIB_OK, FIB_LONG])
    assert len({s.sample_id for s in fibs}) == 2 and len({(s.split.assignment, s.source.group_key) for s in fibs}) == 1
    assert fibs[1].provenance.lineage[-2] == fibs[0].sample_id
    assert all(r.passed for r in run_many([program_for(s, s.code.solution) for s in fibs]))
    assert json.loads((a / "manifest.json").read_text())["sample"]["extra_records"] == 1


def test_killed_run_resumes_to_the_same_bundle(bundle, server, tmp_path):
    srv = server(stall="greatest common divisor")  # records in order: palindrome, chunk | merge, fib | gcd ...
    cmd = [sys.executable, "-c", "from codesft.cli import main; main()", *_args(bundle, srv.url, tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = tmp_path / "out" / "b" / ".sample-v1.0.0+sample" / "answers.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 2 * 2 * K):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group: the CLI and its sandbox workers
    proc.wait()
    done = len(log.read_text().splitlines())
    assert done >= 2 * 2 * K and not (tmp_path / "out" / "b" / "v1.0.0+sample").exists()
    before = len(srv.calls)
    srv.release()
    resumed = _run(bundle, srv.url, tmp_path / "out")
    again = [c for c in srv.calls[before:] if "returns True when a string" in json.dumps(c["messages"])]
    assert not again  # the palindrome problem's answers were in the log: not asked for again
    fresh = _run(bundle, server().url, tmp_path / "fresh")
    assert _digests(resumed) == _digests(fresh)


def test_limit_samples_the_first_eligible_records_and_copies_the_rest(bundle, server, tmp_path):
    new = _run(bundle, server().url, tmp_path / "out", "--limit", "2", "--no-resolve")
    sampled = [s for s in load_bundle(new).samples() if s.sampling is not None]
    assert len(sampled) == 2
    counts = json.loads((new / "manifest.json").read_text())["sample"]
    assert counts["problems"] == 2 and counts["skipped"]["limit"] >= 1
    copied = [s for s in load_bundle(new).samples() if s.sampling is None and s.split.assignment != "test"]
    assert copied  # --rest copy (the default): the records beyond the limit keep their references
    # --rest drop: what trains on the new version is the model's own answers only; the rest is accounted for
    only = _run(bundle, server().url, tmp_path / "only", "--limit", "2", "--no-resolve", "--rest", "drop")
    kept = [s for s in load_bundle(only).samples() if s.split.assignment != "test"]
    assert len(kept) == 2 and all(s.sampling is not None for s in kept)
    dropped = [json.loads(line) for line in (only / "rejected.jsonl").read_text().splitlines()]
    assert sum(d["reason"].startswith("not_sampled") for d in dropped) == len(copied)
