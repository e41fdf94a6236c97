"""`codesft augment BUNDLE_DIR --strategy S --teacher M [options]`. Heavy imports stay inside the command body."""

from __future__ import annotations

from pathlib import Path

import typer

from codesft.config import ConfigError, fields_help, load_config, parse_cli_overrides


def _help() -> str:
    from codesft.augment.config import AugmentConfig

    return ("Ask a teacher model for new records made from a bundle's records (rephrase, evol, harder, easier, "
            "translate), keep only those the sandbox verifies (new tests that the new solution passes, the original "
            "fails and a second solution passes; a translation that passes its translated tests), gate them like "
            "curated data (dedup against the bundle, decontamination) and write a new bundle version (default "
            "<version>+augment) with each record's lineage. A killed run resumes.\n\nOptions (YAML keys of --config, "
            "overridable here):\n\n" + fields_help(AugmentConfig).replace("\n", "\n\n"))


def register(app: typer.Typer) -> None:
    @app.command("augment", help=_help(), no_args_is_help=True,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def augment_cmd(ctx: typer.Context, bundle: Path = typer.Argument(..., metavar="BUNDLE_DIR"),
                    config: str | None = typer.Option(None, "--config", help="YAML file with AugmentConfig fields.")) -> None:
        from codesft.augment.config import AugmentConfig
        from codesft.augment.pipeline import AugmentReport, augment_bundle
        from codesft.evaluate.canary import HarnessFault
        from codesft.models import ModelSourceError

        report = AugmentReport()
        try:
            cfg = load_config(AugmentConfig, config, parse_cli_overrides(list(ctx.args), AugmentConfig))
            if not (bundle / "manifest.json").is_file():
                raise ConfigError(f"bundle not found: {bundle} (no manifest.json)")
            new = augment_bundle(bundle, cfg, report=report)
        except (ConfigError, ModelSourceError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (HarnessFault, RuntimeError) as exc:  # the harness failed: nothing is written
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        for name, c in report.to_dict()["strategies"].items():
            dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "none"
            typer.echo(f"augment {name}: {c['records']} records, {c['candidates']} candidates, {c['kept']} kept; "
                       f"dropped: {dropped}")
        typer.echo(f"bundle: {new}")
