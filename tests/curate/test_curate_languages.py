"""`codesft curate` on JavaScript and SQL records: verified in the sandbox like Python ones; a language the
sandbox cannot run stays unverified without correctness credit; no node stops the run instead of failing records."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle
from codesft.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "codesft" / "data" / "examples"
# Generous: on a loaded machine a 10 s limit could flip a verdict; no example program runs for long.
TIMEOUT = ["--verify.timeout-s", "120"]

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this machine")


def _curate(cwd: Path, *args: str) -> tuple[int, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, ["curate", *args, *TIMEOUT])
    finally:
        os.chdir(old)
    return result.exit_code, result.output


@needs_node
def test_the_language_examples_are_verified_in_the_sandbox(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    code, out = _curate(tmp_path, "--config", "examples/curate_languages.yaml", "--out", "out")
    assert code == 0, out
    samples = list(load_bundle(tmp_path / "out" / "examples-languages" / "v1.0.0").samples())
    assert len(samples) == 11
    by_language = {lang: [s for s in samples if s.code.language == lang] for lang in ("javascript", "sql")}
    assert (len(by_language["javascript"]), len(by_language["sql"])) == (6, 5)
    for s in samples:
        v = s.quality.verification
        assert (v.status, s.quality.decision) == ("passed", "accepted"), (s.provenance.record_id, v, s.quality.reasons)
        if s.source.kind == "code_review":
            assert v.before_status == "failed", s.provenance.record_id  # the problematic code fails the same tests


@needs_node
def test_wrong_records_fail_and_unrunnable_languages_stay_unverified(tmp_path):
    rows = [
        {"id": "js-wrong", "language": "javascript", "problem": "Add two numbers.", "entry_point": "add",
         "solution": "function add(a, b) {\n  return a - b;\n}\n",
         "tests": "require('node:assert').strictEqual(add(2, 3), 5);"},
        {"id": "sql-wrong-order", "language": "sql", "problem": "List the keys, largest first.",
         "schema": "CREATE TABLE t (k INTEGER);", "seed": "INSERT INTO t VALUES (1), (2);",
         "solution": "SELECT k FROM t ORDER BY k;", "tests": {"rows": [[2], [1]], "order": "ordered"}},
        {"id": "rb", "language": "ruby", "problem": "Add two numbers.", "solution": "def add(a, b)\n  a + b\nend\n",
         "tests": "raise unless add(2, 3) == 5"},
    ]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = _curate(tmp_path, "--input", "eval_questions:q.jsonl", "--out", "out", "--name", "n")
    assert code == 0, out
    bundle = tmp_path / "out" / "n" / "v1.0.0"
    kept = {s.provenance.record_id: s for s in load_bundle(bundle).samples()}
    ruby = kept["rb"]
    assert ruby.quality.verification.status == "unverified"
    assert ruby.quality.verification.reason == "no sandbox for ruby"
    assert ruby.quality.dimensions["correctness"] == 0.0  # unknown is not correct
    assert ruby.quality.decision == "downgraded" and "unverified: no sandbox for ruby" in ruby.quality.reasons
    entries = [json.loads(line) for line in (bundle / "rejected.jsonl").read_text().splitlines()]
    rejected = {e["record"]["provenance"]["record_id"]: e["record"] for e in entries if e.get("record")}
    assert set(rejected) == {"js-wrong", "sql-wrong-order"}, entries
    for rid, why in (("js-wrong", "test: AssertionError"), ("sql-wrong-order", "the right rows in the wrong order")):
        v = rejected[rid]["quality"]["verification"]
        assert v["status"] == "failed" and why in v["reason"], (rid, v)
        assert rejected[rid]["quality"]["dimensions"]["correctness"] == 0.0


def test_without_node_curate_stops_before_failing_records(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.setenv("PATH", str(tmp_path / "no-node-here"))
    code, out = _curate(tmp_path, "--input", "eval_questions:examples/assets/languages/eval_questions_javascript.jsonl",
                        "--out", "out", "--name", "n")
    assert code == 1, out
    assert "sandbox harness fault" in out and "node (Node.js) is not installed" in out
    assert not (tmp_path / "out" / "n" / "v1.0.0").exists()


def test_verify_cache_keys_of_python_programs_are_unchanged():
    """A kept verify cache still serves Python programs; other languages key on their language and setup too."""
    from codesft.curate.config import VerifyConfig
    from codesft.curate.verify import program_key
    from codesft.sandbox import Program
    from codesft.schema import content_hash

    cfg = VerifyConfig()
    py = Program(id="a", code="x = 1", test="assert x == 1")
    assert program_key(py, cfg) == content_hash("x = 1", "assert x == 1", "", str(cfg.timeout_s), str(cfg.memory_mb))
    q1 = Program(id="b", language="sql", setup="CREATE TABLE t (a);", code="SELECT 1", test="{}")
    q2 = q1.model_copy(update={"setup": "CREATE TABLE u (a);"})
    assert len({program_key(py, cfg), program_key(q1, cfg), program_key(q2, cfg)}) == 3
