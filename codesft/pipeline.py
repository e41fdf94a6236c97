"""`codesft run`: curate -> sample (or faults) -> train (SFT, FGit) -> eval (base, SFT, FGit) -> compare -> one report.

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
from typing import Annotated, Any, Callable, Literal, TypeVar

import typer
import yaml
from pydantic import BaseModel, Field, ValidationError, field_serializer, model_validator

from codesft.assets import PACKAGE_PREFIX, package_data_dir, resolve_path
from codesft.config import (CommandConfig, ConfigError, StageOverrides, deep_merge, fields_help,
                            format_validation_error, load_config, parse_cli_overrides, read_yaml)
from codesft.curate.config import CurateConfig
from codesft.evaluate.config import EvalConfig
from codesft.faults.config import FaultsConfig
from codesft.sample.config import SampleConfig
from codesft.train.config import TrainConfig

PRESET_DIR = Path(__file__).parent / "configs" / "run"
M = TypeVar("M", bound=BaseModel)

# The fields of each stage's config that the run sets itself (from its own model, bundles and --out).
TRAIN_OWNED = ("model", "data", "output_dir")
EVAL_OWNED = ("model", "benchmark", "out")
SAMPLE_OWNED = ("model", "out")


class SampleSettings(SampleConfig):
    """The sample fields a run takes from its config (`sample:`); the run samples its own base model."""

    model: str | None = Field(default=None, description="Set by the run (its model: self-distillation).")

    @model_validator(mode="after")
    def _backend_inputs(self) -> "SampleSettings":
        # Replaces SampleConfig's check of the same name: the model is the run's, filled in per run.
        return self


class TrainSettings(TrainConfig):
    """The train fields a run takes from its config (`train:` and each of `conditions:`); the run sets model,
    data and output_dir itself, per condition."""

    model: str | None = Field(default=None, description="Set by the run (its model).")
    data: str | None = Field(default=None, description="Set by the run (the faults bundle).")

    @model_validator(mode="after")
    def _fixed_weight_needs_fixed(self) -> "TrainSettings":
        # Replaces TrainConfig's check of the same name: it spans fields that `train:` and a condition may set
        # apart (fixed_weight in one, weighting: fixed in the other), so it runs on the merged TrainConfig.
        return self


class RunConfig(CommandConfig):
    """Each stage's settings are that stage's own typed config, validated when the run config loads; only the
    fields given (`model_dump(exclude_unset=True)`) override the stage's config file and defaults."""

    preset: Literal["demo", "tiny"] = Field(default="demo", description="demo: the offline Qwen2.5-Coder-0.5B-Instruct with LoRA; tiny: a tiny random model (smoke test, < 1 min).")
    out: str = Field(default="runs/codesft-run", description="Directory for every artefact of the run and its report.html.")
    model: str = Field(default="offline:qwen2.5-coder-0.5b-instruct", description="Base model (hub id, local dir, .gguf, offline:NAME, or tiny:random).")
    curate_config: str = Field(default=f"{PACKAGE_PREFIX}examples/curate.yaml", description=f"Curate config whose inputs are the assets to curate: a path (its relative input paths are relative to the current directory, as for `codesft curate --config`) or {PACKAGE_PREFIX}REL, a config shipped with codesft (its inputs are shipped too).")
    curate: Annotated[CurateConfig, StageOverrides(CurateConfig, "codesft curate")] = Field(default_factory=CurateConfig, description="Overrides for the curate config (e.g. {verify: {timeout_s: 5}}).")
    answers: Literal["references", "self"] = Field(default="references", description="What the models train on: references (the records' own solutions, with mutation faults from codesft faults) or self (the base model's own verified answers from codesft sample, its failing answers as the natural faults; the faults stage is skipped).")
    faults: Annotated[FaultsConfig, StageOverrides(FaultsConfig, "codesft faults")] = Field(default_factory=FaultsConfig, description="Overrides for the faults config (generator is mutation unless set); answers: references only.")
    sample: Annotated[SampleSettings, StageOverrides(SampleSettings, "codesft sample", SAMPLE_OWNED)] = Field(default_factory=SampleSettings, description="Overrides for the sample config (k, temperature, backend, ...); answers: self only.")
    conditions: Annotated[dict[str, TrainSettings], StageOverrides(TrainSettings, "codesft train", TRAIN_OWNED, keyed=True)] = Field(default_factory=lambda: {"sft": TrainSettings(method="sft"), "fgit": TrainSettings(method="fgit")}, description="Training conditions: name -> train fields (method, weighting, mask, ...); each is trained on the same data and evaluated beside the base model.")
    train: Annotated[TrainSettings, StageOverrides(TrainSettings, "codesft train", TRAIN_OWNED)] = Field(default_factory=TrainSettings, description="Train config fields shared by every condition (lr, epochs, lora, ...).")
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval"], min_length=1, description="Benchmarks to evaluate on; 'bundle' means the curated bundle's test split.")
    retention: list[str] = Field(default_factory=lambda: ["humaneval+"], description="Retention suite: benchmarks every model is also evaluated on, to catch what a fine-tune forgot (one already in `benchmarks` runs once).")
    eval: Annotated[EvalConfig, StageOverrides(EvalConfig, "codesft eval run", EVAL_OWNED)] = Field(default_factory=EvalConfig, description="Eval config fields shared by every evaluation (limit, max_new_tokens, mode, ...).")

    @field_serializer("curate", "faults", "sample", "train", "eval")
    def _given(self, value: BaseModel) -> dict[str, Any]:
        # run_config.yaml (and the run report) hold what was given, as before the stages were typed: a default
        # written out would read back as a setting (curate's `out` would override the run's bundles dir).
        return given(value)

    @field_serializer("conditions")
    def _given_conditions(self, value: dict[str, TrainSettings]) -> dict[str, dict[str, Any]]:
        return {name: given(v) for name, v in value.items()}


def given(settings: BaseModel) -> dict[str, Any]:
    """The fields of a stage's settings that the run config set (the rest stays the stage's own)."""
    return settings.model_dump(mode="json", exclude_unset=True)


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
    if not (PRESET_DIR / f"{chosen}.yaml").is_file():
        raise ConfigError(f"unknown preset {chosen!r} (known: {', '.join(sorted(p.stem for p in PRESET_DIR.glob('*.yaml')))})")
    base = read_yaml(PRESET_DIR / f"{chosen}.yaml")
    if preset:
        overrides = {**overrides, "preset": preset}
    return load_config(RunConfig, config_file, overrides, base=base)


def _stage_config(cls: type[M], fields: dict[str, Any], origin: str) -> M:
    """A stage's config from the run's settings; a bad one is the user's ConfigError, named by its stage."""
    try:
        return cls.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None


def _curate_config(cfg: RunConfig, out: Path) -> CurateConfig:
    path = resolve_path(cfg.curate_config)
    data = read_yaml(path)
    # A shipped config names shipped inputs (relative to codesft/data); a user's config names paths
    # relative to the current directory, exactly as `codesft curate --config` reads the same file.
    root = package_data_dir() if cfg.curate_config.startswith(PACKAGE_PREFIX) else Path.cwd()
    inputs = []
    for spec in data.get("inputs", []):
        kind, sep, rel = str(spec).partition(":")
        if not sep:
            raise ConfigError(f"{path}: input {spec!r} is not KIND:PATH")
        inputs.append(f"{kind}:{root / Path(rel).expanduser()}")
    data.update(inputs=inputs, out=str(out / "bundles"))
    merged = _stage_config(CurateConfig, deep_merge(data, given(cfg.curate)), "run config: curate")
    try:
        resolved = merged.resolved()
    except ValueError as exc:
        raise ConfigError(f"run config: curate: {exc}") from None
    missing = [spec for spec in resolved.inputs if not Path(spec.partition(":")[2]).exists()]
    if missing:
        raise ConfigError(f"curate inputs not found: {', '.join(missing)}")
    return resolved


def _faults_config(cfg: RunConfig, out: Path) -> FaultsConfig:
    return _stage_config(FaultsConfig, {"generator": "mutation", "out": str(out / "bundles"), **given(cfg.faults)},
                         "run config: faults")


def _sample_config(cfg: RunConfig, model: str, out: Path) -> SampleConfig:
    return _stage_config(SampleConfig, {**given(cfg.sample), "model": model, "out": str(out / "bundles")},
                         "run config: sample")


def _train_config(cfg: RunConfig, name: str, model: str, data: str, out: Path) -> TrainConfig:
    return _stage_config(TrainConfig, {**given(cfg.train), **given(cfg.conditions[name]), "model": model, "data": data,
                                       "output_dir": str(out / "train" / name)}, f"run config: conditions.{name}")


def _eval_config(cfg: RunConfig, bench: str, model: str, fault_bundle: str, out: Path) -> EvalConfig:
    return _stage_config(EvalConfig, {**given(cfg.eval), "model": model, "benchmark": _eval_benchmark(bench, fault_bundle),
                                      "out": str(out)}, "run config: eval")


def check_config(cfg: RunConfig) -> None:
    """Build every stage's config before anything runs, so a bad setting stops the run at once (exit 2),
    not after an hour of training. Bundles and models made by earlier stages are placeholders here."""
    out = Path(cfg.out).resolve()
    _curate_config(cfg, out)
    if cfg.answers == "self":
        _sample_config(cfg, cfg.model, out)
    else:
        _faults_config(cfg, out)
    for name in cfg.conditions:
        _train_config(cfg, name, cfg.model, "<faults bundle>", out)
    for bench in evaluated_benchmarks(cfg):
        _eval_config(cfg, bench, cfg.model, "<faults bundle>", out)


def evaluated_benchmarks(cfg: RunConfig) -> list[str]:
    """`benchmarks`, then the retention suite's benchmarks not already among them (each runs once)."""
    return list(dict.fromkeys([*cfg.benchmarks, *cfg.retention]))


def _eval_benchmark(name: str, bundle: str) -> str:
    return f"bundle:{bundle}" if name == "bundle" else name


def _training_bundle(cfg: RunConfig, stages: "_Stages", bundle: str, model: str, out: Path,
                     log: Callable[[str], None]) -> str:
    """The bundle the conditions train on: the references with mutation faults (`faults`), or the model's own
    verified answers with its nearest failing answer as each record's fault (`sample`)."""
    if cfg.answers == "self":
        from codesft.sample.pipeline import sample_bundle

        sample_cfg = _sample_config(cfg, model, out)
        return stages.run("sample", [bundle, sample_cfg.model_dump(mode="json")],
                          lambda: {"bundle": str(sample_bundle(bundle, sample_cfg, log=log))})["bundle"]
    from codesft.faults import generate_faults

    faults_cfg = _faults_config(cfg, out)
    return stages.run("faults", [bundle, faults_cfg.model_dump(mode="json")],
                      lambda: {"bundle": str(generate_faults(bundle, faults_cfg))})["bundle"]


def run_pipeline(cfg: RunConfig, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Path:
    """Run the whole loop; returns the path of the run's report.html."""
    from codesft.curate.pipeline import one_line_summary, run_curate
    from codesft.evaluate.compare import SIGNIFICANCE, compare
    from codesft.evaluate.runner import run_eval
    from codesft.report.run import headline, verdicts, write_run_report
    from codesft.tiny_model import resolve_run_model
    from codesft.train import train

    check_config(cfg)
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

    fault_bundle = _training_bundle(cfg, stages, bundle, model, out, log)

    trained: dict[str, str] = {}
    for name in cfg.conditions:
        tcfg = _train_config(cfg, name, model, fault_bundle, out)
        trained[name] = stages.run(f"train-{name}", tcfg.model_dump(mode="json"),
                                   lambda tcfg=tcfg: {"dir": str(train(tcfg))})["dir"]

    models = {"base": model, **{m: str(Path(d) / "model") for m, d in trained.items()}}
    comparisons: dict[str, Any] = {}
    evals: dict[str, dict[str, str]] = {}
    for bench in evaluated_benchmarks(cfg):
        evals[bench] = {}
        for name, source in models.items():
            ecfg = _eval_config(cfg, bench, source, fault_bundle, out / "eval" / bench / name)
            evals[bench][name] = stages.run(f"eval-{bench}-{name}", ecfg.model_dump(mode="json"),
                                            lambda ecfg=ecfg: {"dir": str(run_eval(ecfg, log=log))})["dir"]
        dirs = [evals[bench][name] for name in models]
        comparisons[bench] = stages.run(f"compare-{bench}", dirs,
                                        lambda dirs=dirs, bench=bench: {"dir": str(out / "compare" / bench),
                                                                        "report": compare(dirs, out / "compare" / bench)})
    info = {"bundle": bundle, "fault_bundle": fault_bundle, "train": trained, "eval": evals, "compare": comparisons,
            "timings": stages.timings, "retention": cfg.retention, "significance": SIGNIFICANCE}
    found = verdicts(info)
    report = write_run_report(out, cfg.model_dump(mode="json"), {**info, "verdicts": found})
    # The terminal ends as the page opens: the verdicts, headed by "No trained model beats base" when so.
    for line in [*headline(found), *(v["sentence"] for v in found)]:
        log(line)
    log(f"report: {report}")
    return report


_RUN_HELP = """Run the whole loop on the bundled examples: curate -> sample (the model's own verified answers;
--answers references: faults by mutation) -> train (SFT, FGit) -> eval (base, SFT, FGit) -> compare, and write one
report page that opens with the verdict: better than base, the same within noise, or worse.

Every field of the run config is also an option, and so is every field of each stage's config, as
--STAGE.FIELD: e.g. --eval.limit 40 --train.learning-rate 1e-4 --curate.verify.timeout-s 5
--conditions.fgit.weighting bt. Lists take --benchmarks humaneval,bundle (or the option repeated)."""


def _exit_code(exc: Exception) -> int | None:
    """2 for input the user can fix (as the stage commands treat it), 1 for a diverged training, None for
    anything else: a fault of the harness keeps its traceback and never passes for a result."""
    from codesft.evaluate.problems_types import BenchmarkError
    from codesft.models import ModelSourceError
    from codesft.train.data import DataError
    from codesft.evaluate.canary import HarnessFault
    from codesft.sources.inputs import InputError
    from codesft.train.trainer import NonFiniteGradientError

    if isinstance(exc, (ConfigError, BenchmarkError, ModelSourceError, DataError, InputError)):
        return 2
    # HarnessFault: the sandbox canary failed before a stage ran anything; its message names the fault.
    from codesft.evaluate.runner import GenerationFault

    return 1 if isinstance(exc, (NonFiniteGradientError, HarnessFault, GenerationFault)) else None


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
            cfg = resolve_config(config, preset, overrides)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            report = run_pipeline(cfg)
        except Exception as exc:
            code = _exit_code(exc)
            if code is None:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code) from None
        typer.echo(str(report))
