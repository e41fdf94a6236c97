"""`codesft run`: curate -> faults -> train (SFT, FGit) -> eval (base, SFT, FGit) -> compare -> one report.

Each stage is the same Python API its own subcommand uses; this module only wires them together
and records what it did. A stage whose inputs and settings match a finished earlier run in the same
`--out` is skipped, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Literal

import typer
import yaml
from pydantic import Field

from codesft.config import CommandConfig, ConfigError, fields_help, load_config, parse_cli_overrides, read_yaml

PRESET_DIR = Path(__file__).parent / "configs" / "run"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RunConfig(CommandConfig):
    preset: Literal["demo", "tiny"] = Field(default="demo", description="demo: the offline Qwen2.5-Coder-0.5B-Instruct with LoRA; tiny: a tiny random model (smoke test, < 1 min).")
    out: str = Field(default="runs/codesft-run", description="Directory for every artefact of the run and its report.html.")
    model: str = Field(default="offline:qwen2.5-coder-0.5b-instruct", description="Base model (hub id, local dir, .gguf, offline:NAME, or tiny:random).")
    curate_config: str = Field(default="examples/curate.yaml", description="Curate config (its inputs are the assets to curate); relative paths inside resolve against the config's project.")
    curate: dict[str, Any] = Field(default_factory=dict, description="Overrides for the curate config (e.g. {verify: {timeout_s: 5}}).")
    faults: dict[str, Any] = Field(default_factory=dict, description="Overrides for the faults config (generator is mutation unless set).")
    conditions: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"sft": {"method": "sft"}, "fgit": {"method": "fgit"}}, description="Training conditions: name -> train fields (method, weighting, mask, ...); each is trained on the same data and evaluated beside the base model.")
    train: dict[str, Any] = Field(default_factory=dict, description="Train config fields shared by every condition (lr, epochs, lora, ...).")
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval"], description="Benchmarks to evaluate on; 'bundle' means the curated bundle's test split.")
    eval: dict[str, Any] = Field(default_factory=dict, description="Eval config fields shared by every evaluation (limit, max_new_tokens, mode, ...).")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Stages:
    """Skip a stage when a finished run recorded the same settings; otherwise run and record it."""

    def __init__(self, out: Path, log: Callable[[str], None]) -> None:
        self.dir = out / ".stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.timings: dict[str, float] = {}

    def run(self, name: str, settings: Any, fn: Callable[[], Any]) -> Any:
        marker = self.dir / f"{name}.json"
        key = _digest(settings)
        if marker.is_file():
            done = json.loads(marker.read_text())
            if done.get("key") == key:
                self.log(f"[{name}] done in an earlier run, skipped")
                self.timings[name] = done.get("seconds", 0.0)
                return done["result"]
        self.log(f"[{name}] ...")
        start = time.monotonic()
        result = fn()
        seconds = round(time.monotonic() - start, 1)
        self.timings[name] = seconds
        marker.write_text(json.dumps({"key": key, "result": result, "seconds": seconds}, default=str))
        self.log(f"[{name}] {seconds:.1f} s")
        return result


def resolve_config(config_file: Path | None, preset: str | None, overrides: dict[str, Any]) -> RunConfig:
    chosen = preset or (read_yaml(config_file).get("preset") if config_file else None) or "demo"
    base = read_yaml(PRESET_DIR / f"{chosen}.yaml")
    if preset:
        overrides = {**overrides, "preset": preset}
    return load_config(RunConfig, config_file, overrides, base=base)


def _curate_config(cfg: RunConfig, out: Path):
    from codesft.curate.config import CurateConfig

    path = Path(cfg.curate_config)
    if not path.is_absolute() and not path.exists():
        path = PROJECT_ROOT / path
    data = read_yaml(path)
    # Inputs in the shipped config are relative to the project root, not to the caller's cwd.
    root = path.resolve().parent.parent if path.resolve().parent.name == "examples" else path.resolve().parent
    inputs = []
    for spec in data.get("inputs", []):
        kind, _, rel = spec.partition(":")
        p = Path(rel)
        inputs.append(f"{kind}:{p if p.is_absolute() or p.exists() else root / p}")
    data.update(inputs=inputs, out=str(out / "bundles"))
    return load_config(CurateConfig, None, cfg.curate, base=data).resolved()


def _eval_benchmark(name: str, bundle: str) -> str:
    return f"bundle:{bundle}" if name == "bundle" else name


def run_pipeline(cfg: RunConfig, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Path:
    """Run the whole loop; returns the path of the run's report.html."""
    from codesft.curate.pipeline import one_line_summary, run_curate
    from codesft.evaluate.compare import compare
    from codesft.evaluate.config import EvalConfig
    from codesft.evaluate.runner import run_eval
    from codesft.faults import generate_faults
    from codesft.faults.config import FaultsConfig
    from codesft.report.run import write_run_report
    from codesft.tiny_model import resolve_run_model
    from codesft.train import train
    from codesft.train.config import TrainConfig

    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    stages = _Stages(out, log)
    model = resolve_run_model(cfg.model)
    log(f"codesft run: preset {cfg.preset}, model {cfg.model}, out {out}")

    curate_cfg = _curate_config(cfg, out)

    def do_curate() -> dict[str, Any]:
        path, counts = run_curate(curate_cfg)
        log(one_line_summary(path, counts))
        return {"bundle": str(path)}

    bundle = stages.run("curate", curate_cfg.model_dump(mode="json"), do_curate)["bundle"]

    faults_cfg = FaultsConfig.model_validate({"generator": "mutation", "out": str(out / "bundles"), **cfg.faults})
    fault_bundle = stages.run("faults", [bundle, faults_cfg.model_dump(mode="json")],
                              lambda: {"bundle": str(generate_faults(bundle, faults_cfg))})["bundle"]

    trained: dict[str, str] = {}
    for name, fields in cfg.conditions.items():
        tcfg = TrainConfig.model_validate({**cfg.train, **fields, "model": model, "data": fault_bundle,
                                           "output_dir": str(out / "train" / name)})
        trained[name] = stages.run(f"train-{name}", tcfg.model_dump(mode="json"),
                                   lambda tcfg=tcfg: {"dir": str(train(tcfg))})["dir"]

    models = {"base": model, **{m: str(Path(d) / "model") for m, d in trained.items()}}
    comparisons: dict[str, Any] = {}
    evals: dict[str, dict[str, str]] = {}
    for bench in cfg.benchmarks:
        evals[bench] = {}
        for name, source in models.items():
            ecfg = EvalConfig.model_validate({**cfg.eval, "model": source, "benchmark": _eval_benchmark(bench, fault_bundle),
                                              "out": str(out / "eval" / bench / name)})
            evals[bench][name] = stages.run(f"eval-{bench}-{name}", ecfg.model_dump(mode="json"),
                                            lambda ecfg=ecfg: {"dir": str(run_eval(ecfg, log=log))})["dir"]
        dirs = [evals[bench][name] for name in models]
        comparisons[bench] = stages.run(f"compare-{bench}", dirs,
                                        lambda dirs=dirs, bench=bench: {"dir": str(out / "compare" / bench),
                                                                        "report": compare(dirs, out / "compare" / bench)})
    report = write_run_report(out, cfg.model_dump(mode="json"), {"bundle": bundle, "fault_bundle": fault_bundle,
                              "train": trained, "eval": evals, "compare": comparisons, "timings": stages.timings})
    log(f"report: {report}")
    return report


_RUN_HELP = """Run the whole loop on the bundled examples: curate -> faults (mutation) -> train (SFT, FGit)
-> eval (base, SFT, FGit) -> compare, and write one report page.

Every field of the run config is also an option, e.g. --train.learning-rate 1e-4 --eval.limit 10."""


def register(app: typer.Typer) -> None:
    @app.command("run", help=_RUN_HELP, epilog="Fields:\n\n" + fields_help(RunConfig).replace("\n", "\n\n"),
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run_command(
        ctx: typer.Context,
        config: Path = typer.Option(None, "--config", "-c", help="YAML file with run config fields."),
        preset: str = typer.Option(None, "--preset", help="demo (default) or tiny."),
        out: str = typer.Option(None, "--out", help="Output directory (default runs/codesft-run)."),
    ) -> None:
        try:
            overrides = parse_cli_overrides(list(ctx.args), RunConfig)
            if out:
                overrides["out"] = out
            if preset and preset not in ("demo", "tiny"):
                raise ConfigError(f"unknown preset {preset!r} (demo or tiny)")
            cfg = resolve_config(config, preset, overrides)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        report = run_pipeline(cfg)
        typer.echo(str(report))
