"""`codesft exec` end to end through the real CLI entry point."""

import json
import os
import pty
import subprocess
import sys
import threading

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
    proc = _exec(inp, "--output", out, "--timeout-s", "1", "--workers", "2")
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


def test_explain_lists_which_benchmark_modules_are_importable():
    result = CliRunner().invoke(app, ["exec", "--explain"])
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines()}
    assert "numpy" in lines["humaneval+"] and "importable" in lines["humaneval+"]
    assert {"humaneval", "mbpp"} <= set(lines) and "NOT importable" not in result.output


def _results(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_input_line_gets_one_result_line_even_when_fields_are_null(tmp_path):
    inp = tmp_path / "in.jsonl"
    lines = [{"id": "x", "code": None}, {"id": "after", "code": "x = 1"}, {"id": None, "code": "x = 1"},
             {"id": "lang", "code": "x = 1", "language": None}, {"id": "t", "code": "x = 1", "tests": [1]}]
    inp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    proc = _exec(inp, "-o", out)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    results = {r["id"]: r for r in _results(out)}
    assert len(results) == len(lines)
    assert results["x"]["status"] == "error" and "in.jsonl:1: field 'code' must be str, got null" in results["x"]["reason"]
    assert results["after"]["status"] == "passed" and results["line-3"]["status"] == "passed"
    assert results["lang"]["status"] == "passed"  # null means the default, python
    assert results["t"]["status"] == "error" and "list of strings" in results["t"]["reason"]


def test_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path):
    inp = tmp_path / "p.jsonl"
    text = json.dumps({"id": "a", "code": "pass"}) + "\n"
    inp.write_text(text)
    os.link(inp, tmp_path / "hardlink.jsonl")
    (tmp_path / "symlink.jsonl").symlink_to(inp)
    for output in (inp, tmp_path / "hardlink.jsonl", tmp_path / "symlink.jsonl"):
        proc = _exec(inp, "-o", output)
        assert proc.returncode == 2 and "is the input file" in proc.stderr, proc.stderr
        assert inp.read_text() == text


def test_a_fifo_is_read_as_input(tmp_path):
    fifo = tmp_path / "programs.fifo"
    os.mkfifo(fifo)
    payload = "".join(json.dumps({"id": f"p{i}", "code": f"assert {i} == {i}"}) + "\n" for i in range(3))

    def feed():
        with open(fifo, "w") as fh:  # blocks until exec opens the FIFO for reading
            fh.write(payload)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "out.jsonl"
    proc = _exec(fifo, "-o", out)
    writer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["id"] for r in _results(out) if r["status"] == "passed") == ["p0", "p1", "p2"]


def test_timeout_is_spelled_timeout_s_and_the_old_spelling_still_works(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "loop", "code": "while True: pass"}) + "\n")
    for flag in ("--timeout-s", "--timeout"):
        out = tmp_path / f"out{flag}.jsonl"
        proc = _exec(inp, "-o", out, flag, "1")
        assert proc.returncode == 0, proc.stderr
        assert _results(out)[0]["reason"] == "wall-clock limit of 1 s exceeded"
    help_text = CliRunner().invoke(app, ["exec", "--help"], terminal_width=200).output
    assert "--timeout-s" in help_text and "--timeout " not in help_text  # the old spelling is a hidden alias


def test_progress_on_a_terminal_ends_its_line_before_the_summary(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"p{i}", "code": "x = 1"}) + "\n" for i in range(50)))
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "codesft.cli", "exec", str(inp), "-o", str(tmp_path / "o.jsonl")],
                            stdin=child, stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode()
    progress = text.index("50 programs, ")
    summary = text.index("50 programs in ")
    assert "\n" in text[progress:summary], repr(text[:300])
    assert text.rstrip("\r\n").splitlines()[-1].startswith("sandbox backend")
