"""`codesft review serve` and `codesft review apply`. Web imports stay inside the command bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

review_app = typer.Typer(help="Human review of a bundle in the browser, and applying the decisions.",
                         no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@review_app.command("serve", help="Serve the review web app for BUNDLE_DIR (a stratified sample plus every "
                                  "flagged record). Binds to 127.0.0.1 unless --host says otherwise; any other "
                                  "address requires the token printed at start-up.")
def serve(
    bundle_dir: Path = typer.Argument(..., help="Bundle version dir (OUT/NAME/vX) or name dir (its highest version)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Review database (default: review.sqlite beside the bundle)."),
    sample: float = typer.Option(0.2, "--sample", help="Share of the bundle in the stratified sample (0-1)."),
    seed: int = typer.Option(42, "--seed", help="Seed of the sample."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8765, "--port", help="Port to bind."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Default reviewer name for this server's pages."),
) -> None:
    if not 0.0 <= sample <= 1.0:
        _fail(f"--sample must be between 0 and 1, got {sample}")
    try:
        import uvicorn

        from codesft.review.app import create_app
        from codesft.review.security import is_loopback, new_token
        from codesft.review.state import ReviewState
        from codesft.review.store import StoreError
    except ImportError as exc:
        _fail(f"codesft review needs the review extra ({exc.name} is missing): pip install 'codesft[review]'")
    try:
        state = ReviewState.load(bundle_dir, db, sample, seed, reviewer)
    except FileNotFoundError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(str(exc))
    except ValueError as exc:  # a samples.jsonl line that is not a valid record
        _fail(f"cannot read the bundle at {bundle_dir}: {exc}")
    loopback = is_loopback(host)
    token = None if loopback else new_token()
    app = create_app(state, token=token, loopback_only=loopback)
    shown = f"[{host}]" if ":" in host else host
    p = state.progress(state.decisions())
    typer.echo(f"codesft review: {state.bundle.key}, {p['total']} of {p['records_in_bundle']} records in the queue, "
               f"{p['reviewed']} reviewed; database {state.store.path}")
    if token is None:
        typer.echo(f"open http://{shown}:{port}/")
    else:
        typer.echo(f"token: {token}")
        typer.echo(f"open http://{shown}:{port}/?token={token}  (every request needs the token)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@review_app.command("apply", help="Write the next version of BUNDLE_DIR with the database's decisions: rejects to "
                                  "rejected.jsonl, edits applied and re-verified, approvals and rubric scores "
                                  "recorded as quality.review. Unreviewed records pass through unchanged.")
def apply(
    bundle_dir: Path = typer.Argument(..., help="The reviewed bundle version dir."),
    db: Path = typer.Option(..., "--db", help="Review database written by `codesft review serve`."),
    version: Optional[str] = typer.Option(None, "--version", help="Version to write (default: next patch version)."),
) -> None:
    from codesft.review.apply import ApplyError, apply_reviews
    from codesft.review.edits import HarnessError
    from codesft.review.store import StoreError

    try:
        path, stats = apply_reviews(bundle_dir, db, version, progress=lambda m: typer.echo(m, err=True))
    except StoreError as exc:
        _fail(str(exc))
    except ApplyError as exc:
        _fail(str(exc), 2 if exc.user_error else 1)
    except HarnessError as exc:  # the sandbox failed: stop, nothing is written
        _fail(str(exc), 1)
    except ValueError as exc:
        _fail(str(exc))
    kappa = stats["agreement"]["cohen_kappa"]
    typer.echo(f"{path}: {stats['records_reviewed']} reviewed ({stats['approved']} approved, {stats['edited']} edited, "
               f"{stats['rejected']} rejected), {stats['records_unreviewed']} unchanged; Cohen's kappa "
               f"{'n/a' if kappa is None else kappa}")


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
