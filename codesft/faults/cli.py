"""`codesft faults BUNDLE_DIR [options]` and `codesft faults diff CORRECT.py INCORRECT.py`.

Both forms live in one command whose first argument may be the word `diff`: a typer group cannot
take a positional BUNDLE_DIR and subcommands at the same time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from codesft.config import ConfigError, load_config

HELP = """Make incorrect-but-similar variants of each solution (mutation | teacher | local), keep the most
similar one that fails the tests, and write a new bundle version whose records carry `fault`.

\b
  codesft faults BUNDLE_DIR [--generator mutation|teacher|local] [--k 3] ...
  codesft faults diff CORRECT.py INCORRECT.py     print the error-sensitive spans as JSON
"""


# size: holds the command below
def register(app: typer.Typer) -> None:
    # size: mostly typer option declarations, one per flag; the body after them is short
    @app.command("faults", help=HELP, no_args_is_help=True)
    def faults_cmd(
        args: list[str] = typer.Argument(..., metavar="BUNDLE_DIR | diff CORRECT.py INCORRECT.py"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file with faults fields."),
        generator: Optional[str] = typer.Option(None, help="mutation (offline, default), teacher or local."),
        k: Optional[int] = typer.Option(None, "--k", help="Variants per sample (default 3)."),
        teacher_url: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL (…/v1)."),
        teacher_model: Optional[str] = typer.Option(None, help="Teacher model name."),
        model: Optional[str] = typer.Option(None, help="Local model for --generator local."),
        embedder: Optional[str] = typer.Option(None, help="sentence-transformers model dir for cosine similarity."),
        seed: Optional[int] = typer.Option(None, help="Seed (default 0)."),
        out: Optional[Path] = typer.Option(None, help="Root directory for the new bundle (default: beside the input)."),
        version: Optional[str] = typer.Option(None, help="Version of the new bundle (default: <version>+faults)."),
        no_verify: bool = typer.Option(False, "--no-verify", help="Do not run variants in the sandbox."),
        workers: Optional[int] = typer.Option(None, help="Sandbox workers."),
        timeout_s: Optional[float] = typer.Option(None, "--timeout-s", help="Sandbox wall-clock limit per program (default 10)."),
        memory_mb: Optional[int] = typer.Option(None, "--memory-mb", help="Sandbox address-space limit per program (default 2048)."),
    ) -> None:
        if args[0] == "diff":
            if len(args) != 3:
                typer.echo("usage: codesft faults diff CORRECT.py INCORRECT.py", err=True)
                raise typer.Exit(2)
            _diff(Path(args[1]), Path(args[2]))
            return
        if len(args) != 1:
            typer.echo(f"expected one BUNDLE_DIR, got: {' '.join(args)}", err=True)
            raise typer.Exit(2)
        from codesft.faults.config import FaultsConfig

        overrides = {key: value for key, value in dict(
            generator=generator, k=k, teacher_url=teacher_url, teacher_model=teacher_model, model=model,
            embedder=embedder, seed=seed, out=str(out) if out else None, version=version, workers=workers,
            timeout_s=timeout_s, memory_mb=memory_mb,
        ).items() if value is not None}
        if no_verify:
            overrides["verify"] = False
        try:
            cfg = load_config(FaultsConfig, config, overrides)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        bundle = Path(args[0])
        if not bundle.exists():
            typer.echo(f"error: bundle not found: {bundle}", err=True)
            raise typer.Exit(2)
        from codesft.faults.pipeline import FaultReport, generate_faults

        report = FaultReport()
        try:
            new = generate_faults(bundle, cfg, report=report)
        except (FileNotFoundError, RuntimeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        d = report.to_dict(limit=20)
        typer.echo(f"faults: {d['verified_failing']}/{d['eligible']} samples got a verified variant "
                   f"({d['candidates']} candidates); operators: {d['operators']}")
        if d["unverified"]:
            typer.echo(f"{d['unverified']} samples got an unverified variant (no tests, or --no-verify): `codesft train` "
                       f"leaves them out unless --allow-unverified-faults")
        if d["without_fault_by_reason"]:
            typer.echo(f"without a fault, by reason: {d['without_fault_by_reason']}")
            for sid, why in d["without_fault"].items():
                typer.echo(f"  {sid}: {why}")
        typer.echo(f"bundle: {new}")


def _diff(correct: Path, incorrect: Path) -> None:
    from codesft.faults.spans import spans_json

    for p in (correct, incorrect):
        if not p.is_file():
            typer.echo(f"error: file not found: {p}", err=True)
            raise typer.Exit(2)
    typer.echo(json.dumps(spans_json(correct.read_text(encoding="utf-8"), incorrect.read_text(encoding="utf-8")),
                          indent=2, ensure_ascii=False))
