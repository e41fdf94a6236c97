"""`codesft run --preset tiny`: the whole loop end to end on a tiny random model (CI's smoke test)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import codesft
from codesft.cli import app
from codesft.config import ConfigError, parse_cli_overrides, read_yaml
from codesft.pipeline import PRESET_DIR, RunConfig, _curate_config, check_config, given, resolve_config


def test_every_shipped_run_preset_loads():
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        cfg = RunConfig.model_validate(read_yaml(path))
        assert cfg.preset == path.stem
    cfg = resolve_config(None, "tiny", {"eval": {"limit": 1}})
    assert cfg.model == "tiny:random" and cfg.eval.limit == 1 and cfg.eval.max_new_tokens == 24  # deep merge


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


def test_every_stage_field_is_an_option(tmp_path):
    """docs/run.md and `run --help` show `--eval.limit 40`; any field of each stage's config is reachable."""
    args = ["--eval.limit", "40", "--train.learning-rate", "1e-4", "--curate.verify.timeout-s", "5",
            "--faults.k", "2", "--conditions.fgit.weighting", "bt", "--benchmarks", "humaneval,bundle",
            "--eval.ks", "1,5"]
    cfg = resolve_config(None, "tiny", parse_cli_overrides(args, RunConfig))
    assert cfg.eval.limit == 40 and cfg.eval.ks == [1, 5] and cfg.eval.max_new_tokens == 24
    assert cfg.train.learning_rate == 1e-4 and given(cfg.curate)["verify"] == {"timeout_s": 5}
    assert cfg.faults.k == 2 and given(cfg.conditions["fgit"]) == {"method": "fgit", "weighting": "bt"}
    assert cfg.benchmarks == ["humaneval", "bundle"]
    check_config(cfg)
    help_text = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--eval.FIELD" in help_text and "--eval.limit" in help_text


@pytest.mark.parametrize("args, message", [
    (["--eval.limt", "4"], "unknown option --eval.limt"),
    (["--train.model", "x"], "'train.model' is set by the run itself"),
    (["--conditions.fgit.weighting", "nope"], "conditions.fgit.weighting': Input should be 'bt'"),
    (["--faults.generator", "teacher"], "generator 'teacher' needs --teacher-url"),  # a check across fields
    (["--curate.split.train", "50"], "train + validation + test + holdout must be 100"),
    (["--curate-config", "missing.yaml"], "config file not found"),
    (["--preset", "huge"], "unknown preset 'huge'"),
])
def test_bad_stage_settings_stop_the_run_before_it_starts(tmp_path, args, message):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "tiny", "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()  # nothing ran


def test_shipped_curate_config_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: the shipped inputs are found in the package
    cfg = _curate_config(RunConfig(), tmp_path / "out")
    shipped = Path(codesft.__file__).parent / "data" / "examples"
    assert cfg.inputs and all(Path(spec.partition(":")[2]).is_relative_to(shipped) for spec in cfg.inputs)
    assert all(Path(spec.partition(":")[2]).exists() for spec in cfg.inputs)


def test_a_users_curate_config_reads_inputs_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_text("")
    (tmp_path / "mine.yaml").write_text("inputs: ['eval_questions:q.jsonl']\n")
    cfg = _curate_config(RunConfig(curate_config="mine.yaml"), tmp_path / "out")
    assert cfg.inputs == [f"eval_questions:{tmp_path / 'q.jsonl'}"]
    (tmp_path / "mine.yaml").write_text("inputs: ['eval_questions:missing.jsonl']\n")
    with pytest.raises(ConfigError, match="curate inputs not found: eval_questions:.*missing.jsonl"):
        _curate_config(RunConfig(curate_config="mine.yaml"), tmp_path / "out")


def test_the_run_config_holds_each_stage_as_its_typed_config(tmp_path):
    """Stage settings are the stages' own configs (typed, defaults filled) from the moment the run config loads;
    run_config.yaml keeps only what was given and reads back to the same settings."""
    from codesft.curate.config import CurateConfig
    from codesft.evaluate.config import EvalConfig
    from codesft.faults.config import FaultsConfig
    from codesft.train.config import TrainConfig

    args = ["--eval.timeout-s", "5", "--conditions.dpo.method", "dpo", "--curate.verify.timeout-s", "3"]
    cfg = resolve_config(None, "tiny", parse_cli_overrides(args, RunConfig))
    assert isinstance(cfg.curate, CurateConfig) and isinstance(cfg.faults, FaultsConfig)
    assert isinstance(cfg.eval, EvalConfig) and isinstance(cfg.eval.timeout_s, float) and cfg.eval.n == 1
    assert isinstance(cfg.train, TrainConfig) and cfg.train.max_steps == 4
    assert {n: c.method for n, c in cfg.conditions.items()} == {"sft": "sft", "fgit": "fgit", "dpo": "dpo"}
    assert cfg.curate.verify.timeout_s == 3.0 and cfg.curate.verify.memory_mb == CurateConfig().verify.memory_mb
    written = cfg.model_dump(mode="json")
    assert written["eval"] == {"max_new_tokens": 24, "limit": 3, "batch_size": 4, "timeout_s": 5.0,
                               "text_metrics": False}
    path = tmp_path / "run_config.yaml"
    path.write_text(yaml.safe_dump(written, sort_keys=False))
    assert resolve_config(path, None, {}).model_dump(mode="json") == written
