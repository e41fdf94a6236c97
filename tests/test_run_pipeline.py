"""`codesft run --preset tiny`: the whole loop end to end on a tiny random model (CI's smoke test)."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from codesft.cli import app
from codesft.config import read_yaml
from codesft.pipeline import PRESET_DIR, RunConfig, resolve_config


def test_every_shipped_run_preset_loads():
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        cfg = RunConfig.model_validate(read_yaml(path))
        assert cfg.preset == path.stem
    cfg = resolve_config(None, "tiny", {"eval": {"limit": 1}})
    assert cfg.model == "tiny:random" and cfg.eval["limit"] == 1 and cfg.eval["max_new_tokens"] == 24  # deep merge


def test_tiny_run_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--preset", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert report.is_file()
    page = report.read_text()
    for rel in re.findall(r'href="([^"]+)"', page):  # every link on the page resolves
        assert (out / rel).exists(), rel
    summary = json.loads((out / "run_summary.json").read_text())
    assert set(summary["train"]) == {"sft", "fgit"}
    for bench in ("humaneval", "bundle"):
        assert set(summary["eval"][bench]) == {"base", "sft", "fgit"}
        assert len(summary["compare"][bench]["report"]["comparisons"]) == 2
    fault_manifest = json.loads((Path(summary["fault_bundle"]) / "manifest.json").read_text())
    assert fault_manifest["parent_version"]
    assert json.loads((Path(summary["train"]["fgit"]) / "run.json").read_text())["method"] == "fgit"

    again = runner.invoke(app, ["run", "--preset", "tiny", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") >= 10  # every finished stage is reused, nothing re-run


def test_bad_run_config_stops_with_a_message(tmp_path):
    result = CliRunner().invoke(app, ["run", "--preset", "tiny", "--out", str(tmp_path), "--bogus", "1"])
    assert result.exit_code == 2 and "unknown option --bogus" in result.output
