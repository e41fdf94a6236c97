"""One way to build a program in every language (`program_for`), the per-language check, and `codesft exec`
with JavaScript and SQL lines, end to end through the CLI."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from codesft.cli import app
from codesft.sandbox import (Limits, SandboxPool, UnsupportedLanguage, check_language, program_for,
                             sandbox_language)
from codesft.sandbox.languages import LanguageUnavailable
from codesft.schema import Code, Provenance, Sample, Source, SqlExpectation


def record(language: str, **code) -> Sample:
    return Sample(sample_id=f"rec-{language}", source=Source(kind="eval_question", group_key="g"),
                  code=Code(language=language, **code), provenance=Provenance(content_hash="h", source_path="p"))


def test_program_for_builds_each_language():
    js = program_for(record("JavaScript", solution="x", setup="const k = 1;", entry_point="add",
                            tests="async function check(candidate) {}\n"), "function add() {}", id="v1")
    assert (js.id, js.language, js.setup, js.code, js.entry_point) == ("v1", "javascript", "const k = 1;",
                                                                      "function add() {}", "add")
    plain = program_for(record("js", solution="x", entry_point="add", tests="assert.ok(add)"), "x")
    assert plain.language == "javascript" and plain.entry_point is None  # no check() in the tests: none is called
    expected = SqlExpectation(rows=[[1]], order="ordered").to_tests()
    q = program_for(record("sql", solution="SELECT 1", setup="CREATE TABLE t (a);", tests=expected), "SELECT 2")
    assert (q.language, q.setup, q.code, q.test, q.entry_point) == ("sql", "CREATE TABLE t (a);", "SELECT 2", expected, None)
    py = program_for(record("python", solution="x", setup="import os", tests="def check(c): pass", entry_point="f"), "y")
    assert (py.language, py.code, py.setup, py.entry_point) == ("python", "import os\ny", None, "f")  # as before
    with pytest.raises(UnsupportedLanguage, match="does not run 'ruby'"):
        program_for(record("ruby", solution="x", tests="x"), "x")
    assert [sandbox_language(n) for n in ("Python", "node", "SQLite", "go", None)] == ["python", "javascript", "sql",
                                                                                       None, None]


@pytest.mark.skipif(not os.path.exists("/usr/bin/node"), reason="node is not installed on this machine")
def test_language_check_passes_here_and_fails_closed_without_node(monkeypatch, tmp_path):
    with SandboxPool(Limits(timeout_s=5), workers=1) as pool:
        check_language(pool, "javascript")
        check_language(pool, "sql")
    monkeypatch.setenv("PATH", str(tmp_path))
    with SandboxPool(Limits(timeout_s=5), workers=1) as pool:
        with pytest.raises(LanguageUnavailable, match="cannot judge javascript programs: .*node .*not installed"):
            check_language(pool, "javascript")


def _exec(*args, env=None):
    return subprocess.run([sys.executable, "-m", "codesft.cli", "exec", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.skipif(not os.path.exists("/usr/bin/node"), reason="node is not installed on this machine")
def test_exec_runs_javascript_and_sql_lines(tmp_path):
    table = "CREATE TABLE t (k INTEGER); INSERT INTO t VALUES (1), (2);"
    lines = [
        {"id": "js_ok", "language": "javascript", "code": "const sq = (x) => x * x;",
         "test": "require('node:assert').strictEqual(sq(3), 9);"},
        {"id": "js_alias_bad", "language": "js", "code": "const sq = (x) => x + x;",
         "test": "require('node:assert').strictEqual(sq(3), 9);"},
        {"id": "sql_ok", "language": "sql", "setup": table, "code": "SELECT k FROM t ORDER BY k",
         "test": json.dumps({"rows": [[1], [2]], "order": "ordered"})},
        {"id": "sql_order", "language": "sqlite", "setup": table, "code": "SELECT k FROM t ORDER BY k DESC",
         "test": json.dumps({"rows": [[1], [2]], "order": "ordered"})},
        {"id": "sql_entry", "language": "sql", "code": "SELECT 1", "entry_point": "f"},
        {"id": "js_entry", "language": "javascript", "code": "1", "entry_point": "a.b"},
        {"id": "ruby", "language": "ruby", "code": "puts 1"},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    proc = _exec(inp, "--output", out, "--timeout-s", "5", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    res = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert res["js_ok"]["status"] == "passed" and res["sql_ok"]["status"] == "passed"
    assert res["js_alias_bad"]["status"] == "failed" and "6 !== 9" in res["js_alias_bad"]["reason"]
    assert res["sql_order"]["status"] == "failed" and "wrong order" in res["sql_order"]["reason"]
    assert res["sql_entry"]["status"] == "error" and "a sql program has setup, code and test only" in res["sql_entry"]["reason"]
    assert res["js_entry"]["status"] == "error" and "not a JavaScript identifier" in res["js_entry"]["reason"]
    assert res["ruby"]["status"] == "error" and "python, javascript, sql" in res["ruby"]["reason"]

    no_node = {**os.environ, "PATH": str(tmp_path)}  # exec started where no node can be found
    proc = _exec(inp, "--output", out, "--timeout-s", "5", "--workers", "1", env=no_node)
    assert proc.returncode == 0, proc.stderr
    res = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert res["js_ok"]["status"] == "error" and "node (Node.js) is not installed" in res["js_ok"]["reason"]
    assert res["sql_ok"]["status"] == "passed"


def test_explain_says_what_each_language_can_use():
    result = CliRunner().invoke(app, ["exec", "--explain"])
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines() if line.startswith("  ")}
    assert "the standard library" in lines["python"]
    assert "SQLite" in lines["sql"] and "in-memory" in lines["sql"] and "NOT available" not in lines["sql"]
    if os.path.exists("/usr/bin/node"):
        assert "node v" in lines["javascript"] and "node:test" in lines["javascript"]
        assert "NOT available" not in lines["javascript"]


def test_the_javascript_harness_ships_in_the_wheel():
    """node.py reads harness.js when the worker imports it: a wheel without the file cannot run any program."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["codesft"]
    assert (root / "codesft" / "sandbox" / "harness.js").is_file()
    assert any(fnmatch.fnmatch("sandbox/harness.js", p) for p in patterns), patterns
