"""Training uses only faults whose variant failed the tests in the sandbox, unless told otherwise."""

import json

from typer.testing import CliRunner

from codesft.cli import app


def _write(path, samples):
    path.write_text("".join(s.to_json() + "\n" for s in samples))
    return path


def _preflight(tiny_model_dir, data, out, *extra):
    result = CliRunner().invoke(app, ["train", "--model", str(tiny_model_dir), "--data", str(data), "--output-dir",
                                      str(out), "--method", "fgit", "--max-length", "256", "--preflight-only", *extra])
    return result


def test_unverified_faults_are_left_out_unless_allowed(tiny_model_dir, pair_samples, tmp_path):
    for s in pair_samples[:2]:  # e.g. samples without tests: the variant never ran
        s.fault.verified_failing = None
    data = _write(tmp_path / "pairs.jsonl", pair_samples)
    default = _preflight(tiny_model_dir, data, tmp_path / "a")
    assert default.exit_code == 0, default.output
    report = json.loads((tmp_path / "a" / "preflight.json").read_text())
    assert report["records"] == 4 and report["unverified_faults_left_out"] == 2
    allowed = _preflight(tiny_model_dir, data, tmp_path / "b", "--allow-unverified-faults")
    assert allowed.exit_code == 0, allowed.output
    report = json.loads((tmp_path / "b" / "preflight.json").read_text())
    assert report["records"] == 6 and report["unverified_faults_left_out"] == 0


def test_only_unverified_faults_stop_fgit_with_the_flag_named(tiny_model_dir, pair_samples, tmp_path):
    for s in pair_samples:
        s.fault.verified_failing = None
    data = _write(tmp_path / "pairs.jsonl", pair_samples)
    result = _preflight(tiny_model_dir, data, tmp_path / "o")
    assert result.exit_code == 2 and "no verified faults" in result.output
    assert "--allow-unverified-faults" in result.output and not (tmp_path / "o").exists()
