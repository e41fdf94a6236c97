"""End-to-end training on the tiny model: losses decrease, outputs are complete, bad configs stop early."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.config import ConfigError, load_config
from codesft.train import train
from codesft.train.config import TrainConfig

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "codesft" / "configs" / "train").glob("*.yaml"))


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in r]


def _cfg(tiny_model_dir, data, out, **kw):
    base = dict(model=str(tiny_model_dir), data=str(data), output_dir=str(out), max_steps=8, learning_rate=3e-3,
                batch_size=3, bf16=False, max_length=256, tensorboard=False,
                drift_prompts=0)  # drift has its own tests (test_train_drift.py); here it would only add time
    base.update(kw)
    return base


@pytest.mark.parametrize("method,extra", [
    ("sft", {}),
    ("fgit", {"weighting": "bt_sym"}),
    ("fgit", {"weighting": "bt", "mask": "token"}),
    ("dpo", {"learning_rate": 1e-2}),
])
def test_loss_decreases(method, extra, tiny_model_dir, pairs_jsonl, tmp_path):
    out = train(_cfg(tiny_model_dir, pairs_jsonl, tmp_path / "o", method=method, **extra))
    losses = _losses(out)
    assert len(losses) == 8
    # mean of the last two steps (each epoch = 2 steps over 6 records) below the first two
    assert sum(losses[-2:]) < sum(losses[:2]) * (0.97 if method == "dpo" else 0.9), losses
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == method and run["data_manifest_hash"].startswith("sha256:") and run["records"] == 6
    assert run["device"] == f"cpu ({os.cpu_count()} cores)"  # what trained it, for reports across machines
    assert (out / "model" / "config.json").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert (out / "config.yaml").is_file() and json.loads((out / "preflight.json").read_text())["ok"] == 6
    if method == "fgit":
        weights = [r["fgit_weight"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
                   if "fgit_weight" in r]
        assert weights and all(1.0 < w <= 2.0 for w in weights)


def test_lora_tensorboard_checkpoints_and_resume(tiny_model_dir, pairs_jsonl, tmp_path):
    out = tmp_path / "lora"
    cfg = _cfg(tiny_model_dir, pairs_jsonl, out, method="fgit", max_steps=4, save_steps=2, tensorboard=True,
               lora={"enabled": True, "r": 4, "alpha": 8})
    train(cfg)
    assert (out / "model" / "adapter_config.json").is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "checkpoints" / "checkpoint-4").is_dir()
    cfg.update(max_steps=6, resume=True)
    train(cfg)
    run = json.loads((out / "run.json").read_text())
    assert run["resumed_from"].endswith("checkpoint-4") and run["global_step"] == 6
    steps = [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_bad_configs_stop_before_any_work(tiny_model_dir, pairs_jsonl, tmp_path, sample_factory):
    with pytest.raises(ConfigError, match="unknown field 'lerning_rate'"):
        load_config(TrainConfig, None, {"model": "m", "data": "d", "lerning_rate": 1})
    with pytest.raises(ConfigError, match="pairs_only cannot be false"):
        load_config(TrainConfig, None, {"model": "m", "data": "d", "method": "fgit", "pairs_only": False})
    with pytest.raises(ConfigError, match="bundle not found"):
        train(_cfg(tiny_model_dir, tmp_path / "missing", tmp_path / "o"))
    with pytest.raises(ConfigError, match="model: path not found"):
        train(_cfg(tmp_path / "no-model", pairs_jsonl, tmp_path / "o"))
    no_faults = tmp_path / "plain.jsonl"
    no_faults.write_text(sample_factory("Add.", "def add(a, b):\n    return a + b\n").to_json() + "\n")
    with pytest.raises(ConfigError, match="has no faults"):
        train(_cfg(tiny_model_dir, no_faults, tmp_path / "o", method="fgit"))
    assert not (tmp_path / "o").exists()


def test_train_cli_flags_override_yaml_and_preflight_failure_is_reported(tiny_model_dir, pairs_jsonl, tmp_path):
    from codesft.cli import app

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {tiny_model_dir}\ndata: {pairs_jsonl}\nmethod: fgit\noutput_dir: {tmp_path / 'o'}\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["train", "--config", str(cfg), "--preflight-only", "--mask", "line"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "o" / "preflight.json").read_text())["ok"] == 6
    bad = runner.invoke(app, ["train", "--config", str(cfg), "--max-length", "40"])
    assert bad.exit_code == 2 and "cut by max_length=40" in bad.output and not (tmp_path / "o" / "model").exists()
    unknown = runner.invoke(app, ["train", "--config", str(cfg), "--lerning-rate", "1"])
    assert unknown.exit_code == 2 and "unknown option --lerning-rate" in unknown.output
    helptext = runner.invoke(app, ["train", "--help"])
    assert "--weighting" in helptext.output and "--lora.r" in helptext.output


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load_and_pass_preflight(path, tiny_model_dir, pairs_jsonl, tmp_path):
    cfg = load_config(TrainConfig, path, {"model": str(tiny_model_dir), "data": str(pairs_jsonl),
                                          "output_dir": str(tmp_path / "o"), "preflight_only": True})
    assert cfg.model_dump() == load_config(TrainConfig, path, cfg.model_dump()).model_dump()
    train(cfg)
    assert json.loads((tmp_path / "o" / "preflight.json").read_text())["ok"] == 6


def test_train_reads_a_real_bundle(tiny_model_dir, pair_samples, tmp_path):
    from codesft.bundle import write_bundle

    bundle = write_bundle(pair_samples, [], tmp_path / "b", "pairs", "1.0.0+faults", {"seed": 0})
    out = train(_cfg(tiny_model_dir, bundle.parent, tmp_path / "o", method="fgit", max_steps=1))
    run = json.loads((out / "run.json").read_text())
    import hashlib

    assert run["data_manifest_hash"] == "sha256:" + hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    assert run["records"] == len(pair_samples)


def test_a_nan_gradient_stops_the_run_before_a_model_is_saved(tiny_model_dir, pairs_jsonl, tmp_path):
    from codesft.cli import app

    # lr 1e38 overflows the weights after the first step; the next gradients are NaN.
    out = tmp_path / "nan"
    result = CliRunner().invoke(app, ["train", "--model", str(tiny_model_dir), "--data", str(pairs_jsonl),
                                      "--output-dir", str(out), "--method", "sft", "--learning-rate", "1e38",
                                      "--max-steps", "6", "--batch-size", "3", "--max-length", "256",
                                      "--dtype", "fp32", "--bf16", "false", "--tensorboard", "false"])
    assert result.exit_code == 1 and "gradient norm nan" in result.output, result.output
    norms = [r["grad_norm"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
             if "grad_norm" in r]
    assert norms[0] == norms[0] and norms[-1] != norms[-1]  # finite first, NaN at the stop
    assert not (out / "model").exists() and not (out / "run.json").exists()
