"""`codesft curate` on inputs and outputs that used to be lost, miscounted or end in a traceback."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

# Verification is off: these tests are about reading and writing, and must not wait for the sandbox.
FAST = ["--verify.enabled", "false", "--decontam.enabled", "false"]


def _rec(i: int, pad: int = 0) -> str:
    return json.dumps({"id": f"q{i}", "problem": f"Return {i}." + " x" * pad, "solution": f"def f{i}():\n    return {i}\n",
                       "tests": f"assert f{i}() == {i}"})


def _curate(*args: str) -> tuple[int, str]:
    from codesft.cli import app

    result = CliRunner().invoke(app, ["curate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _rejected(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in (bundle / "rejected.jsonl").read_text().splitlines()]


def test_a_stray_first_line_costs_one_rejection_not_the_file(tmp_path: Path):
    p = tmp_path / "stray.jsonl"
    p.write_text('["stray"]\n' + "\n".join(_rec(i) for i in range(3)) + "\n")
    code, out = _curate("--input", f"eval_questions:{p}", "--out", str(tmp_path / "b"), "--name", "ex", *FAST)
    assert code == 0, out
    bundle = tmp_path / "b" / "ex" / "v1.0.0"
    assert _manifest(bundle)["counts"]["inputs"] == 4
    assert [(r["file"], r["line"], r["stage"]) for r in _rejected(bundle)] == [(str(p), 1, "read")]


def test_a_missing_input_stops_the_run_unless_allowed(tmp_path: Path):
    good = tmp_path / "q.jsonl"
    good.write_text(_rec(0) + "\n")
    missing = tmp_path / "nope.jsonl"
    args = ["--input", f"eval_questions:{good}", "--input", f"chats:{missing}", "--out", str(tmp_path / "b"), *FAST]
    code, out = _curate(*args)
    assert code == 2 and f"input not found: {missing}" in out and "--allow-missing" in out
    assert not (tmp_path / "b").exists()
    code, out = _curate(*args, "--allow-missing")
    assert code == 0, out
    bundle = tmp_path / "b" / "dataset" / "v1.0.0"
    assert [r["reason"] for r in _rejected(bundle)] == [f"input not found: {missing}"]
    assert _manifest(bundle)["counts"]["inputs"] == 2


def test_a_directory_with_no_file_to_read_stops_the_run(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("not an input file\n")
    args = ["--input", f"eval_questions:{data}", "--out", str(tmp_path / "b"), *FAST]
    code, out = _curate(*args)
    assert code == 2 and "no .jsonl/.json/.jsonl.gz file in that directory" in out, out
    assert not (tmp_path / "b").exists()
    (data / "q.jsonl").write_text(_rec(0) + "\n")
    code, out = _curate(*args)
    assert code == 0, out


def test_out_inside_an_input_directory_is_not_read_back(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "q.jsonl").write_text("\n".join(_rec(i) for i in range(3)) + "\n")
    base = ["--input", f"eval_questions:{data}", "--out", str(data / "bundles"), "--name", "ex", *FAST]
    code, out = _curate(*base)
    assert code == 0, out
    # An interrupted run's work dir sits there too; neither it nor the first bundle is input to the next run.
    work = data / "bundles" / "ex" / ".work-v2.0.0"
    work.mkdir()
    (work / "records.jsonl").write_text(_rec(9) + "\n")
    code, out = _curate(*base, "--version", "2.0.0")
    assert code == 0, out
    assert _manifest(data / "bundles" / "ex" / "v2.0.0")["counts"]["inputs"] == 3
    assert _rejected(data / "bundles" / "ex" / "v2.0.0") == []


def test_ids_are_the_same_for_a_relative_and_an_absolute_input_path(tmp_path: Path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "q.jsonl").write_text("\n".join(_rec(i) for i in range(3)) + "\n")
    monkeypatch.chdir(tmp_path)
    ids = []
    for spec, out in (("eval_questions:data", "rel"), (f"eval_questions:{tmp_path / 'data'}", "abs")):
        code, output = _curate("--input", spec, "--out", out, *FAST)
        assert code == 0, output
        lines = (tmp_path / out / "dataset" / "v1.0.0" / "samples.jsonl").read_text().splitlines()
        ids.append(sorted(json.loads(line)["sample_id"] for line in lines))
    assert len(ids[0]) == 3 and ids[0] == ids[1]


@pytest.mark.parametrize("flag,value", [("--name", "../../x"), ("--name", ".."), ("--version", "1/../../../y")])
def test_name_and_version_cannot_leave_out(tmp_path: Path, flag: str, value: str):
    inp = tmp_path / "q.jsonl"
    inp.write_text(_rec(0) + "\n")
    out = tmp_path / "a" / "b" / "out"
    code, output = _curate("--input", f"eval_questions:{inp}", "--out", str(out), flag, value, *FAST)
    assert code == 2 and f"field '{flag[2:]}'" in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["q.jsonl"]  # nothing written anywhere


@pytest.mark.parametrize("out", ["file", "under_file", "/dev/full"])
def test_an_out_that_is_not_a_directory_is_a_clear_error(tmp_path: Path, out: str):
    inp = tmp_path / "q.jsonl"
    inp.write_text(_rec(0) + "\n")
    target = {"file": str(inp), "under_file": str(inp / "sub"), "/dev/full": "/dev/full"}[out]
    code, output = _curate("--input", f"eval_questions:{inp}", "--out", target, *FAST)
    assert code == 2 and f"error: output directory {target}" in output and "not a directory" in output


def test_schema_to_a_full_device_is_a_clear_error():
    from codesft.cli import app

    result = CliRunner().invoke(app, ["schema", "--output", "/dev/full"])
    assert result.exit_code == 1 and "error: cannot write /dev/full: No space left on device" in result.output
    assert not isinstance(result.exception, OSError)


def test_a_write_that_fails_mid_run_stops_with_a_message_and_no_bundle(tmp_path: Path):
    """A real write error (RLIMIT_FSIZE: the kernel refuses writes past 4 KiB, as a full disk refuses any):
    a message and exit 1, no traceback and no bundle."""
    inp = tmp_path / "q.jsonl"
    inp.write_text("\n".join(_rec(i, pad=400) for i in range(20)) + "\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, "-m", "codesft.cli", "curate", "--input", f"eval_questions:{inp}",
                           "--out", str(tmp_path / "b"), *FAST], capture_output=True, text=True, preexec_fn=limit,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "error: curate stopped, no bundle written: [Errno 27] File too large" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b" / "dataset" / "v1.0.0").exists()


def test_ray_executor_without_the_extra_is_a_clear_error(tmp_path: Path, monkeypatch):
    inp = tmp_path / "q.jsonl"
    inp.write_text(_rec(0) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # how Python reports a package that is not installed
    code, output = _curate("--input", f"eval_questions:{inp}", "--out", str(tmp_path / "b"), "--executor", "ray", *FAST)
    assert code == 2 and "executor 'ray' needs the ray extra" in output
    assert not (tmp_path / "b").exists()
