"""`codesft sample BUNDLE_DIR --model M [options]`. Heavy imports stay inside the command body."""

from __future__ import annotations

from pathlib import Path

import typer

from codesft.config import ConfigError, fields_help, load_config, parse_cli_overrides


def _help() -> str:
    from codesft.sample.config import SampleConfig

    return ("Draw k answers per record from a model (the student itself, or a teacher), run them in the sandbox, "
            "keep a passing one in place of the reference, record the pass rate and keep the nearest failing "
            "answer as the record's fault; writes a new bundle version (default <version>+sample). A killed run "
            "resumes.\n\nOptions (YAML keys of --config, overridable here):\n\n"
            + fields_help(SampleConfig).replace("\n", "\n\n"))


def register(app: typer.Typer) -> None:
    @app.command("sample", help=_help(), no_args_is_help=True,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def sample_cmd(ctx: typer.Context, bundle: Path = typer.Argument(..., metavar="BUNDLE_DIR"),
                   config: str | None = typer.Option(None, "--config", help="YAML file with SampleConfig fields.")) -> None:
        from codesft.evaluate.canary import HarnessFault
        from codesft.models import ModelSourceError
        from codesft.sample.config import SampleConfig
        from codesft.sample.pipeline import SampleReport, sample_bundle

        report = SampleReport()
        try:
            cfg = load_config(SampleConfig, config, parse_cli_overrides(list(ctx.args), SampleConfig))
            if not (bundle / "manifest.json").is_file():
                raise ConfigError(f"bundle not found: {bundle} (no manifest.json)")
            new = sample_bundle(bundle, cfg, report=report)
        except (ConfigError, ModelSourceError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (HarnessFault, RuntimeError) as exc:  # the harness (sandbox, server, engine) failed: nothing is written
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        d = report.to_dict()
        typer.echo(f"sample: {d['problems']} problems, {d['samples']} answers, {d['passed']} passed; "
                   f"re-solved {d['resolved']}, unsolved {d['unsolved']}, faults {d['faults']}")
        typer.echo(f"pass-rate histogram: {d['pass_rate_histogram']}")
        typer.echo(f"bundle: {new}")
