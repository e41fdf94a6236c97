"""End to end: the CLI on every example asset, planted secrets, byte-identical reruns, resume after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.curate.config import CurateConfig
from codesft.bundle import load_bundle

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "examples" / "assets"
INPUTS = [f"eval_questions:{ASSETS / 'eval_questions.jsonl'}", f"eval_questions:{ASSETS / 'humaneval_style.jsonl'}",
          f"eval_questions:{ASSETS / 'mbpp_style.jsonl'}", f"code_reviews:{ASSETS / 'code_reviews.jsonl'}",
          f"chats:{ASSETS / 'chats_openai.jsonl'}", f"chats:{ASSETS / 'chats_sharegpt.jsonl'}",
          f"instruct:{ASSETS / 'instruct_alpaca.json'}", f"instruct:{ASSETS / 'instruct_messages.jsonl'}",
          f"instruct:{ASSETS / 'instruct.parquet'}", f"git:{ASSETS / 'sample_repo.bundle'}"]
SECRETS = {
    "email": "alice.secret@corp-example.com", "openai": "sk-proj-Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zX",
    "aws": "AKIAQWERTYUIOPASDFGH", "github": "ghp_Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zXcVbNm",
    "slack": "xoxp-99887766554-q7we9rt2yu", "google": "AIzaSyQ7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zXcV",
    "stripe": "sk_live_Q7wE9rT2yU4iO6pA8sD0", "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.Q7wE9rT2yU4iO6pA8sD0",
    "urlpw": "Tr0ub4dor3xyz", "assign": "CorrectHorse99", "pkey": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
}


def _planted(tmp: Path) -> Path:
    p = tmp / "planted.jsonl"
    rows = [
        {"problem": f"Connect with postgres://svc:{SECRETS['urlpw']}@db/x and mail {SECRETS['email']} please.",
         "solution": f"def f():\n    password = \"{SECRETS['assign']}\"\n    return 1\n", "tests": "assert f() == 1",
         "entry_point": "f", "tags": [SECRETS["aws"]], "group": "planted"},
        {"problem": "Return two, here is the deploy key for reference if needed by anyone",
         "solution": f"KEY = '''-----BEGIN RSA PRIVATE KEY-----\n{SECRETS['pkey']}\n-----END RSA PRIVATE KEY-----'''\n\ndef g():\n    return 2\n",
         "tests": "assert g() == 2", "entry_point": "g"},
        {"problem": f"tokens {SECRETS['openai']} {SECRETS['github']}", "solution": "def h(:\n"},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.append('{"problem": "broken json ' + SECRETS["slack"] + ' ' + SECRETS["google"])
    lines.append(json.dumps({"problem": 5, "solution": SECRETS["stripe"] + " " + SECRETS["jwt"]}))
    p.write_text("\n".join(lines) + "\n")
    return p


# Generous sandbox limit: on a loaded machine a 10 s timeout can flip a verdict (passed -> timeout) in one
# run and not the other, and the byte-identity tests compare runs. No example program runs for long.
VERIFY_TIMEOUT_S = 120.0


def _run(out: Path, extra: list[str] = (), inputs=INPUTS) -> tuple[int, str]:
    from codesft.cli import app

    args = ["curate", "--out", str(out), "--name", "ex", "--seed", "7", "--verify.timeout-s", str(VERIFY_TIMEOUT_S)]
    for spec in inputs:
        args += ["--input", spec]
    result = CliRunner().invoke(app, args + list(extra))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def planted_inputs(tmp_path_factory) -> list[str]:
    return INPUTS + [f"eval_questions:{_planted(tmp_path_factory.mktemp('planted'))}"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, planted_inputs) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    code, output = _run(out, inputs=planted_inputs)
    assert code == 0, output
    assert "inputs ->" in output and "accepted" in output
    return out / "ex" / "v1.0.0"


def test_no_secret_reaches_any_output_file(bundle: Path, bundle_file_text):
    texts = {p: bundle_file_text(p) for p in bundle.rglob("*") if p.is_file()}
    assert len(texts) >= 20
    for p, text in texts.items():
        for kind, secret in SECRETS.items():
            assert secret not in text, f"{kind} secret in clear in {p.relative_to(bundle)}"
    rejected = [json.loads(line) for line in (bundle / "rejected.jsonl").read_text().splitlines()]
    blocked = [r for r in rejected if r["reason"].startswith("redaction_blocked")]
    assert blocked and blocked[0]["file"].endswith("planted.jsonl") and blocked[0]["line"] == 2
    unreadable = [r for r in rejected if r["file"].endswith("planted.jsonl") and r["line"] in (4, 5)]
    assert len(unreadable) == 2 and all(r["reason"].startswith(("invalid JSON", "invalid record")) for r in unreadable)


def test_manifest_accounts_for_every_input(bundle: Path):
    b = load_bundle(bundle)
    c = b.manifest["counts"]
    samples = list(b.samples())
    rejected = list(b.rejected())
    assert c["inputs"] == c["accepted"] + c["downgraded"] + c["rejected"] == len(samples) + len(rejected)
    assert c["inputs"] == sum(b.manifest["config"] and json.loads((bundle / "summary.json").read_text())["pipeline"]["inputs_by_spec"].values())
    assert sum(c["rejected_by_reason"].values()) == c["rejected"]
    assert {"git_filter", "invalid record", "score_below_floor", "exact_duplicate", "redaction_blocked"} <= set(c["rejected_by_reason"])
    assert all({"file", "line", "reason"} <= set(r) for r in rejected)
    assert b.check() == [] and b.manifest["seed"] == 7 and b.manifest["config"]["gate"]["min_score"] == 85.0
    assert {s.source.kind for s in samples} == {"eval_question", "code_review", "chat", "instruct", "commit"}
    for s in samples:
        assert set(s.export_compatibility) == {"openai_chat", "hf_conversational", "hf_tool_calling", "alpaca", "dpo", "parquet"}
    tool = [s for s in samples if s.export_compatibility["hf_tool_calling"] == "ok"]
    assert tool and all(any(m.tool_calls for m in s.messages) for s in tool)
    assert sum(1 for _ in b.split("train")) == c["by_split"].get("train", 0)
    html = (bundle / "report.html").read_text()
    assert "<svg" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_exports_load_with_datasets(bundle: Path):
    from datasets import load_dataset

    counts = load_bundle(bundle).manifest["counts"]["by_format"]
    for fmt in ("openai_chat", "hf_conversational", "hf_tool_calling", "alpaca"):
        files = [str(f) for f in sorted((bundle / fmt).glob("*.jsonl")) if f.stat().st_size]
        ds = load_dataset("json", data_files=files, split="train")
        assert len(ds) == sum(counts[fmt].values()) > 0, fmt


def _assert_same_bytes(bundle: Path, again: Path) -> None:
    files = sorted(p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (bundle / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_same_inputs_give_byte_identical_bundle(bundle: Path, tmp_path: Path, planted_inputs):
    code, output = _run(tmp_path, inputs=planted_inputs)
    assert code == 0, output
    _assert_same_bytes(bundle, tmp_path / "ex" / "v1.0.0")
    code, _ = _run(tmp_path / "seed", ["--seed", "8"], inputs=planted_inputs)
    assert (tmp_path / "seed" / "ex" / "v1.0.0" / "samples.jsonl").read_bytes() != (bundle / "samples.jsonl").read_bytes()


def test_killed_run_restarts_to_the_same_bundle(bundle: Path, tmp_path: Path, monkeypatch, planted_inputs):
    from codesft.curate import driver, pipeline

    cfg = CurateConfig(inputs=planted_inputs, out=str(tmp_path), name="ex", seed=7, verify={"timeout_s": VERIFY_TIMEOUT_S})
    real = driver.whole_pass

    def killed(*a, **kw):
        raise KeyboardInterrupt("simulated kill after phase 1")

    monkeypatch.setattr(driver, "whole_pass", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_curate(cfg, progress=lambda m: None)
    work = tmp_path / "ex" / ".work-v1.0.0"
    assert (work / "records.jsonl").exists() and not (tmp_path / "ex" / "v1.0.0").exists()
    monkeypatch.setattr(driver, "whole_pass", real)
    messages: list[str] = []
    monkeypatch.setattr(driver, "per_record_pass", lambda *a, **k: pytest.fail("phase 1 must not rerun"))
    monkeypatch.setattr("codesft.curate.verify.Verifier.verify_batch", lambda *a, **k: pytest.fail("phase 1 must not rerun"))
    path, _ = pipeline.run_curate(cfg, progress=messages.append)
    assert any("reusing its checkpoint" in m for m in messages)
    for p in bundle.rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (path / p.relative_to(bundle)).read_bytes(), p
    assert not work.exists()


def test_cli_errors_and_schema(tmp_path: Path):
    from codesft.cli import app

    code, output = _run(tmp_path, inputs=["nosuchkind:x"])
    assert code == 2 and "KIND:PATH" in output
    code, output = _run(tmp_path, ["--dedup.thresold", "0.5"])
    assert code == 2 and "unknown option" in output
    res = CliRunner().invoke(app, ["schema", "--output", str(tmp_path / "s.json")])
    assert res.exit_code == 0
    schema = json.loads((tmp_path / "s.json").read_text())
    assert "quality" in schema["properties"] and "Fault" in schema["$defs"]


def test_ray_executor_writes_the_same_bundle(bundle: Path, tmp_path: Path, planted_inputs):
    """`--executor ray` (the `ray` extra) runs the same per-record batches, sandbox verification included, in Ray
    workers, and writes the same bytes as the local executor (the executor, like the worker count, is not part of
    the bundle's identity)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code, output = _run(tmp_path, ["--executor", "ray"], inputs=planted_inputs)
    finally:
        ray.shutdown()
    assert code == 0, output
    _assert_same_bytes(bundle, tmp_path / "ex" / "v1.0.0")
