"""The `codesft` command. Each stage package contributes its subcommands through `register(app)`;
heavy imports (torch, transformers) stay inside the command bodies so `codesft --help` is instant."""

from __future__ import annotations

import importlib

import typer

from codesft import __version__

app = typer.Typer(
    name="codesft",
    help="Curate verified SFT data for code LLMs, fine-tune (SFT / FGit / DPO) and evaluate in a sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Order is the order of `codesft --help`.
_COMMAND_MODULES = [
    "codesft.sandbox.cli",     # exec
    "codesft.curate.cli",      # curate, schema
    "codesft.faults.cli",      # faults
    "codesft.train.cli",       # train
    "codesft.evaluate.cli",    # eval run | score | compare, llamacpp build | info
    "codesft.pipeline",        # run
    "codesft.review.cli",      # review serve | apply
    "codesft.sample.cli",      # sample
    "codesft.augment.cli",     # augment
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"codesft {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
