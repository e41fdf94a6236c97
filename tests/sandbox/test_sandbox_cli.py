"""`codesft exec` end to end through the real CLI entry point."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from codesft.cli import app


def _exec(*args):
    return subprocess.run([sys.executable, "-m", "codesft.cli", "exec", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_exec_streams_one_result_per_line_and_reports_bad_lines(tmp_path):
    inp = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "ok", "code": "def f():\n    return 1\n", "test": "assert f() == 1"}),
        "{not json",
        json.dumps({"id": "nocode", "test": "assert True"}),
        json.dumps({"id": "badtype", "code": 5}),
        json.dumps({"id": "he", "code": "def inc(x):\n    return x + 1\n",
                    "test": "def check(c):\n    assert c(1) == 2\n", "entry_point": "inc"}),
        json.dumps({"id": "loop", "code": "while True: pass"}),
        json.dumps({"id": "lang", "code": "fn main() {}", "language": "rust"}),
    ]
    inp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    proc = _exec(inp, "--output", out, "--timeout", "1", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    results = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(results) == len(lines)
    assert results["ok"]["status"] == "passed" and results["he"]["status"] == "passed"
    assert results["line-2"]["status"] == "error" and "in.jsonl:2" in results["line-2"]["reason"]
    assert results["nocode"]["status"] == "error" and "missing field 'code'" in results["nocode"]["reason"]
    assert results["badtype"]["status"] == "error" and "must be str" in results["badtype"]["reason"]
    assert results["loop"]["status"] == "timeout"
    assert results["lang"]["status"] == "error"
    for r in results.values():
        assert {"id", "status", "reason", "runtime_s", "stdout", "stderr"} <= set(r)
    assert "sandbox backend" in proc.stderr and "passed 2" in proc.stderr


def test_exec_fails_clearly_when_it_cannot_run(tmp_path):
    missing = _exec(tmp_path / "nope.jsonl", "--output", tmp_path / "o.jsonl")
    assert missing.returncode != 0 and "input file not found" in missing.stderr
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "code": "pass"}) + "\n")
    blocked = tmp_path / "dir"
    blocked.mkdir()
    unwritable = _exec(inp, "--output", blocked)  # a directory is not a writable file
    assert unwritable.returncode != 0 and "cannot write output" in unwritable.stderr


def test_explain_names_the_layers_in_force():
    result = CliRunner().invoke(app, ["exec", "--explain"])
    assert result.exit_code == 0, result.output
    assert "backend:" in result.output and "rlimits" in result.output
