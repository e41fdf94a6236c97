"""`codesft curate` and `codesft schema`. Heavy imports stay inside the command bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_CURATE_HELP = """Curate engineering assets into a verified, versioned SFT bundle.

Example: codesft curate --input eval_questions:examples/assets/eval_questions.jsonl
--input git:examples/assets/sample_repo.bundle --out bundles --name team --gates balanced

Every field of the curate config can also be given as an option (dotted for sections),
e.g. --gate.min-score 90 --dedup.threshold 0.85 --split.holdout 5; see docs/curate.md."""


# size: holds the curate and schema commands, mostly typer option declarations
def register(app: typer.Typer) -> None:
    @app.command("curate", help=_CURATE_HELP,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def curate(
        ctx: typer.Context,
        input: list[str] = typer.Option([], "--input", "-i", help="KIND:PATH, KIND in eval_questions, code_reviews, chats, git, instruct. Repeatable. A missing PATH stops the run (exit 2) unless --allow-missing is given."),
        out: Optional[str] = typer.Option(None, "--out", help="Directory for bundles (default: bundles)."),
        name: Optional[str] = typer.Option(None, "--name", help="Bundle name (default: dataset)."),
        version: Optional[str] = typer.Option(None, "--version", help="Bundle version (default: 1.0.0)."),
        gates: Optional[str] = typer.Option(None, "--gates", help="Gate preset: strict, balanced, experimental."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Split / sampling seed (default: 42)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file with curate config fields."),
        workers: Optional[int] = typer.Option(None, "--workers", help="Processes for the per-record stages."),
        show_config: bool = typer.Option(False, "--show-config", help="List every config field and exit."),
    ) -> None:
        from codesft.config import ConfigError, load_config, parse_cli_overrides, fields_help
        from codesft.curate.config import CurateConfig

        if show_config:
            typer.echo(fields_help(CurateConfig))
            raise typer.Exit()
        try:
            overrides = parse_cli_overrides(list(ctx.args), CurateConfig)
            for key, value in (("out", out), ("name", name), ("version", version), ("gates", gates),
                               ("seed", seed), ("workers", workers)):
                if value is not None:
                    overrides[key] = value
            if input:
                overrides["inputs"] = list(input)
            cfg = load_config(CurateConfig, config, overrides)
            cfg.resolved()
        except (ConfigError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        from codesft.curate.pipeline import one_line_summary, run_curate
        from codesft.evaluate.canary import HarnessFault

        try:
            path, counts = run_curate(cfg)
        except ValueError as exc:  # bad input, output path or setup (InputError, ExecutorUnavailable, ...)
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2)
        except OSError as exc:  # the disk, not the user: no space, no permission, ... (no bundle is written)
            typer.echo(f"error: curate stopped, no bundle written: {exc}", err=True)
            raise typer.Exit(1)
        except HarnessFault as exc:  # the sandbox canary failed before verify ran anything
            typer.echo(f"error: curate stopped, no bundle written: {exc}", err=True)
            raise typer.Exit(1)
        typer.echo(one_line_summary(path, counts))

    @app.command("schema", help="Write the JSON Schema of the Sample record.")
    def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout).")) -> None:
        import json

        from codesft.schema import json_schema

        text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                typer.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
                raise typer.Exit(1)
            typer.echo(f"wrote {output}")
