"""`codesft train` on data that is not training data, and on an output_dir that is a file: a message naming
the file (and line), exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


def _train(model: Path, data: Path, out: Path) -> tuple[int, str, BaseException | None]:
    from codesft.cli import app

    result = CliRunner().invoke(app, ["train", "--model", str(model), "--data", str(data), "--output-dir", str(out),
                                      "--preflight-only", "--max-length", "256"])
    return result.exit_code, result.output, result.exception


def _garbage(tmp_path: Path, kind: str, good_line: str) -> tuple[Path, str]:
    """(data path, text the message must hold) for each kind of garbage."""
    if kind == "not_json":
        p = tmp_path / "samples.jsonl"
        p.write_text(good_line + "\n{this is not json\n")
        return p, f"{p}:2: not a Sample record"
    if kind == "not_a_sample":
        p = tmp_path / "samples.jsonl"
        p.write_text(good_line + "\n" + '{"problem": "p", "solution": "s"}\n')
        return p, f"{p}:2: not a Sample record"
    if kind == "not_utf8":
        p = tmp_path / "samples.jsonl"
        p.write_bytes(good_line.encode() + b"\n\xff\xfe\n")
        return p, f"{p}:2: not UTF-8"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if kind == "no_manifest":
        (bundle / "notes.txt").write_text("hello")
        return bundle, f"no bundle at {bundle}"
    if kind == "bad_manifest":
        (bundle / "manifest.json").write_text("{truncated")
        (bundle / "samples.jsonl").write_text(good_line + "\n")
        return bundle, "the bundle manifest is not valid JSON"
    (bundle / "manifest.json").write_text("{}")  # bad_bundle_samples
    (bundle / "samples.jsonl").write_text(good_line + "\n[1, 2]\n")
    return bundle, f"{bundle / 'samples.jsonl'}:2: not a Sample record"


@pytest.mark.parametrize("kind", ["not_json", "not_a_sample", "not_utf8", "no_manifest", "bad_manifest",
                                  "bad_bundle_samples"])
def test_garbage_training_data_is_a_clear_error(tiny_model_dir, pair_samples, tmp_path: Path, kind: str):
    data, message = _garbage(tmp_path, kind, pair_samples[0].to_json())
    code, output, exc = _train(tiny_model_dir, data, tmp_path / "o")
    assert code == 2 and message in output, (output, exc)
    assert isinstance(exc, SystemExit) and not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_an_output_dir_that_is_not_a_directory_is_a_clear_error(tiny_model_dir, pairs_jsonl, tmp_path: Path,
                                                                 where: str):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    out = blocker if where == "file" else blocker / "run"
    code, output, exc = _train(tiny_model_dir, pairs_jsonl, out)
    assert code == 2 and f"error: output_dir: {out}" in output and "not a directory" in output, (output, exc)
    assert isinstance(exc, SystemExit)
