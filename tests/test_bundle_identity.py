"""Bundles stay byte-identical across refactors: the example assets and a 20k-record synthetic set,
curated through the CLI, must give the bundle recorded in `bundle_identity.json` beside this file.

What is compared is each file's sha256, except for Parquet files, whose bytes carry the writer's
pyarrow version: those are compared by a hash of their rows (the manifest's hash of them is left out
for the same reason). Anything else that changes a digest is a change to the data codesft writes.

When a change is *meant* to change the bundle (a new field, a gate that decides differently), or a
dependency changes what it computes (ruff, bandit, detect-secrets), regenerate the digests and say why
in the commit:

    CODESFT_WRITE_BUNDLE_IDENTITY=1 python -m pytest tests/test_bundle_identity.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "codesft" / "data" / "examples"
FIXTURE = Path(__file__).with_name("bundle_identity.json")
WRITE = os.environ.get("CODESFT_WRITE_BUNDLE_IDENTITY") == "1"


def _digest(path: Path) -> str:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = json.dumps(pq.read_table(path).to_pylist(), sort_keys=True, ensure_ascii=False)
        return "rows:" + hashlib.sha256(rows.encode()).hexdigest()
    if path.name == "manifest.json":
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.endswith(".parquet")}
        return "manifest:" + hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(bundle: Path) -> dict[str, str]:
    return {p.relative_to(bundle).as_posix(): _digest(p) for p in sorted(bundle.rglob("*")) if p.is_file()}


def _curate(cwd: Path, *args: str) -> Path:
    old = os.getcwd()
    os.chdir(cwd)  # inputs are given relative to it, so no absolute path of this machine enters the bundle
    try:
        result = CliRunner().invoke(app, ["curate", *args])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return cwd / "out" / "b" / "v1.0.0"


def _synthetic(path: Path, n: int) -> None:
    """The synthetic records (exact and near duplicates, planted emails) as eval questions."""
    from codesft.curate.synthetic import synthetic_stream

    with path.open("w", encoding="utf-8") as fh:
        for i, s in enumerate(synthetic_stream(n)):
            fh.write(json.dumps({"id": f"syn-{i}", "problem": s.messages[0].content, "solution": s.code.solution,
                                 "tests": s.code.tests, "entry_point": s.code.entry_point}) + "\n")


def _check(name: str, got: dict[str, str]) -> None:
    recorded = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
    if WRITE:
        recorded[name] = got
        FIXTURE.write_text(json.dumps(recorded, sort_keys=True, indent=1) + "\n")
        return
    assert name in recorded, f"no recorded digests for {name}: see this module's docstring"
    changed = sorted(k for k in set(got) | set(recorded[name]) if got.get(k) != recorded[name].get(k))
    assert not changed, f"{name}: these bundle files changed: {changed}"


def test_example_bundle_is_byte_identical(tmp_path: Path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    bundle = _curate(tmp_path, "--config", "examples/curate.yaml", "--out", "out", "--name", "b", "--version", "1.0.0")
    _check("examples", digests(bundle))


@pytest.mark.timeout(240)
def test_synthetic_20k_bundle_is_byte_identical(tmp_path: Path):
    _synthetic(tmp_path / "synthetic.jsonl", 20_000)
    bundle = _curate(tmp_path, "--input", "eval_questions:synthetic.jsonl", "--verify.enabled", "false",
                     "--out", "out", "--name", "b", "--version", "1.0.0", "--workers", "2")
    _check("synthetic_20k", digests(bundle))
