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
    from codesft.evaluate.runner import run_eval
    from codesft.models import ModelSourceError

    try:
        cfg = load_config(EvalConfig, config, parse_cli_overrides(list(ctx.args), EvalConfig))
        run_eval(cfg)
    except (ConfigError, BenchmarkError, ModelSourceError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


@eval_app.command("score")
def score_cmd(
    benchmark: str = typer.Option(..., "--benchmark", help="humaneval, humaneval+, mbpp[:split], jsonl:PATH, bundle:PATH."),
    samples: str = typer.Option(..., "--samples", help="JSONL with task_id + completion (human-eval) or task_id + solution (evalplus)."),
    out: str = typer.Option(..., "--out", help="Output directory."),
    timeout_s: float = typer.Option(10.0, "--timeout-s", help="Sandbox wall-clock limit per program."),
    memory_mb: int = typer.Option(2048, "--memory-mb", help="Sandbox address-space limit per program."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Sandbox workers."),
    sanitize: bool = typer.Option(False, "--sanitize/--no-sanitize", help="Extract code from chatty answers first (off: run exactly what human-eval/evalplus would)."),
    text_metrics: bool = typer.Option(True, "--text-metrics/--no-text-metrics", help="BLEU/CodeBLEU against references."),
) -> None:
    """Score existing completions (human-eval / evalplus sample format) in the sandbox."""
    from codesft.evaluate.problems_types import BenchmarkError
    from codesft.evaluate.runner import score_samples

    try:
        score_samples(benchmark, samples, out, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers,
                      sanitize=sanitize, text_metrics=text_metrics)
    except (ConfigError, BenchmarkError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


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
    for c in rep["comparisons"]:
        typer.echo(f"{c['run']}: pass@1 {c['pass@1_baseline']:.4f} -> {c['pass@1_candidate']:.4f} "
                   f"({c['difference']:+.4f}, 95% CI [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]), "
                   f"McNemar p={c['mcnemar']['p_value']:.4g}, won {len(c['won'])}, lost {len(c['lost'])} "
                   f"on {c['problems']} problems")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
