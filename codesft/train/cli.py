"""`codesft train --config FILE.yaml [--field value ...]`: every TrainConfig field is also a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from codesft.config import ConfigError, fields_help, load_config, parse_cli_overrides


def _epilog() -> str:
    from codesft.train.config import TrainConfig

    # \b keeps click from re-wrapping the field list.
    return "Config fields (YAML keys; each is also a --flag, nested ones dotted, e.g. --lora.r 8):\n\n\b\n" + \
        fields_help(TrainConfig)


def _output_dir_problem(out: Path) -> str | None:
    """Why `out` cannot be (or become) the output directory; the nearest existing path must be a directory."""
    for parent in (out, *out.parents):
        if parent.exists():
            if parent.is_dir():
                return None
            return f"{out} exists and is not a directory" if parent == out else \
                f"{out} is under {parent}, which is not a directory"
    return None


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog=_epilog(),
        help="Fine-tune a model on a bundle: sft, fgit (fault-guided) or dpo; full or LoRA.",
    )
    def train_cmd(
        ctx: typer.Context,
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file with TrainConfig fields."),
    ) -> None:
        from codesft.train.config import TrainConfig

        try:
            overrides = parse_cli_overrides(list(ctx.args), TrainConfig)
            cfg = load_config(TrainConfig, config, overrides)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        problem = _output_dir_problem(Path(cfg.output_dir))
        if problem:  # checked before any work: a file in the way would only fail after the preflight
            typer.echo(f"error: output_dir: {problem}", err=True)
            raise typer.Exit(2)
        from codesft.train.data import DataError
        from codesft.train.run import train
        from codesft.train.trainer import NonFiniteGradientError

        try:
            out = train(cfg)
        except (ConfigError, DataError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except NonFiniteGradientError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        if cfg.preflight_only:
            typer.echo((out / "preflight.json").read_text())
        typer.echo(f"output: {out}")
