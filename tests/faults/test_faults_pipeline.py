import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle
from codesft.faults import generate_faults
from codesft.faults.config import FaultsConfig
from codesft.faults.generators import extract_code, prompt_messages


def _by_id(path):
    return {s.sample_id: s for s in load_bundle(path).samples()}


def test_mutation_faults_are_verified_and_written_as_a_new_bundle_version(bundle_dir):
    new = generate_faults(bundle_dir, FaultsConfig(k=4, seed=1))
    bundle = load_bundle(new)
    assert bundle.version == "1.0.0+faults" and bundle.manifest["parent_version"] == "1.0.0"
    samples = _by_id(new)
    for key in ("task-clip", "task-count"):
        f = samples[key].fault
        assert f is not None and f.verified_failing is True and f.generator == "mutation"
        assert f.incorrect != samples[key].code.solution and 0 < f.similarity < 1
        assert f.correct_spans.token and f.incorrect_spans.token
        assert "demo@1.0.0" in samples[key].provenance.lineage
    # reported, not silently skipped
    assert samples["task-weak"].fault is None and samples["task-broken"].fault is None
    report = json.loads((new / "summary.json").read_text())["pipeline"]["faults"]
    assert report["without_fault"] == {"task-broken": "correct_solution_failed", "task-weak": "no_failing_variant"}
    assert report["with_fault"] == 2 and report["eligible"] == 4
    # the test split is left alone; the dpo export is filled from the faults
    assert samples["held"].fault is None
    dpo = [json.loads(line) for line in (new / "dpo" / "train.jsonl").read_text().splitlines()]
    assert len(dpo) == 2 and all(r["chosen"] != r["rejected"] for r in dpo)


def test_mutation_faults_are_deterministic(bundle_dir, tmp_path):
    a = generate_faults(bundle_dir, FaultsConfig(k=3, seed=5, out=str(tmp_path / "a")))
    b = generate_faults(bundle_dir, FaultsConfig(k=3, seed=5, out=str(tmp_path / "b")))
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()


class _Teacher(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Teacher.requests.append(body)
        prompt = body["messages"][-1]["content"]
        code = prompt.split("## Correct solution\n```python\n", 1)[1].rsplit("```", 1)[0]
        wrong = code.replace("<", ">", 1) if "<" in code else code.replace("*", "+")
        content = f"Sure!\n```python\n{wrong.rstrip()}\n```"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_teacher_generator_against_a_local_openai_compatible_server(bundle_dir):
    server = HTTPServer(("127.0.0.1", 0), _Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        new = generate_faults(bundle_dir, FaultsConfig(generator="teacher", teacher_url=url, teacher_model="t", k=2))
    finally:
        server.shutdown()
    assert _Teacher.requests and all(r["temperature"] == 0.8 and r["model"] == "t" for r in _Teacher.requests)
    f = _by_id(new)["task-clip"].fault
    assert f.generator == "teacher" and f.operator == "teacher:t" and f.verified_failing
    assert "if n > lo:" in f.incorrect
    # identical variants are discarded: the duplicates from k=2 count once
    assert f.candidates_tried == 2


def test_prompt_template_and_code_extraction(bundle_dir):
    s = next(iter(load_bundle(bundle_dir).samples()))
    text = prompt_messages(s)[0]["content"]
    assert s.code.solution.rstrip() in text and "subtly wrong".lower() in text.lower() and "$" not in text
    assert extract_code("x\n```py\na = 1\n```\n```python\nb = 2\n```") == "a = 1\n"
    assert extract_code("```\nc = 3\n```") == "c = 3\n"


def test_embedder_picks_the_most_similar_by_cosine(bundle_dir, monkeypatch, tmp_path):
    import sys
    import types

    import numpy as np

    class FakeST:
        def __init__(self, path, device=None):
            pass

        def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True):
            # length-based embedding: the variant closest in length to the original scores highest
            v = np.array([[1.0, len(t) / 100.0] for t in texts])
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=FakeST))
    (tmp_path / "emb").mkdir()
    new = generate_faults(bundle_dir, FaultsConfig(k=4, embedder=str(tmp_path / "emb")))
    f = _by_id(new)["task-clip"].fault
    assert f.similarity_method == "embedding:emb" and 0.99 < f.similarity <= 1.0


def test_faults_cli_on_a_bundle(bundle_dir, tmp_path):
    from codesft.cli import app

    result = CliRunner().invoke(app, ["faults", str(bundle_dir), "--k", "3", "--seed", "2", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "2/4 samples got a verified variant" in result.output and "task-weak: no_failing_variant" in result.output
    assert (tmp_path / "o" / "demo" / "v1.0.0+faults" / "manifest.json").is_file()


@pytest.mark.parametrize("args,message", [
    (["faults", "nowhere"], "bundle not found"),
    (["faults", "x", "--generator", "teacher"], "teacher-url"),
    (["faults", "diff", "a.py"], "usage"),
])
def test_faults_cli_errors(args, message):
    from codesft.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output


def test_local_generator_runs_a_transformers_model_and_reports_garbage(bundle_dir, tmp_path):

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from codesft.tiny_model import TOKENIZER_DIR

    tok = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=None)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    new = generate_faults(bundle_dir, FaultsConfig(generator="local", model=str(tmp_path / "m"), k=2,
                                                   max_new_tokens=24))
    report = json.loads((new / "summary.json").read_text())["pipeline"]["faults"]
    # a random model writes no parseable, different code: every sample is reported with its reason
    assert report["eligible"] == 4 and report["candidates"] > 0
    assert sum(report["without_fault_by_reason"].values()) + report["with_fault"] == 4


def test_a_sample_without_tests_gets_an_unverified_fault_counted_apart(untested_bundle_dir, tmp_path):
    from codesft.cli import app

    result = CliRunner().invoke(app, ["faults", str(untested_bundle_dir), "--k", "3", "--seed", "1",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "1/2 samples got a verified variant" in result.output
    assert "1 samples got an unverified variant" in result.output and "--allow-unverified-faults" in result.output
    new = tmp_path / "o" / "demo" / "v1.0.0+faults"
    faults = {k: s.fault for k, s in _by_id(new).items()}
    assert faults["task-count"].verified_failing is True and faults["untested"].verified_failing is None
    report = json.loads((new / "summary.json").read_text())["pipeline"]["faults"]
    assert report["with_fault"] == 2 and report["verified_failing"] == 1 and report["unverified"] == 1


def test_faults_cli_takes_the_shared_sandbox_flags(bundle_dir, tmp_path):
    from codesft.cli import app

    result = CliRunner().invoke(app, ["faults", str(bundle_dir), "--k", "2", "--timeout-s", "4", "--memory-mb", "1536",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    faults = load_bundle(tmp_path / "o" / "demo" / "v1.0.0+faults").config()["faults"]
    assert (faults["timeout_s"], faults["memory_mb"]) == (4.0, 1536)
    assert FaultsConfig().memory_mb == 2048  # the sandbox's shared default, as for verify and eval


def test_faults_keep_one_sandbox_pool_for_the_run(bundle_dir, monkeypatch):
    from codesft.evaluate.canary import check_sandbox
    from codesft.sandbox import Limits
    from codesft.sandbox import pool

    check_sandbox(Limits(timeout_s=5.0))  # the canary's own workers are not the run's
    starts = []
    real = pool._Worker.__init__

    def counting(self, *args, **kwargs):
        starts.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(pool._Worker, "__init__", counting)
    new = generate_faults(bundle_dir, FaultsConfig(k=2, seed=1, batch_size=1, workers=1, timeout_s=5.0))
    assert _by_id(new)["task-clip"].fault.verified_failing is True
    assert len(starts) == 1  # four batches, one warm worker (a pool per batch started four)
