"""`codesft exec`: run a JSONL file of programs in the sandbox, streaming one result line per input line."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Iterator, Optional

import typer
from pydantic import ValidationError

from codesft.sandbox.languages import LANGUAGES, sandbox_language
from codesft.sandbox.types import Limits, Program, Result

_FIELDS = {"id": str, "code": str, "test": str, "entry_point": str, "stdin": str, "language": str,
           "expected_stdout": str, "tests": list, "setup": str}


def parse_line(raw: str, lineno: int, path: str) -> Program | Result:
    """One input line -> a Program, or an `error` Result whose reason names the line. Never raises: every
    input line gets exactly one result line."""
    where = f"{path}:{lineno}"
    fallback_id = f"line-{lineno}"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Result(id=fallback_id, status="error", reason=f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return Result(id=fallback_id, status="error", reason=f"{where}: expected a JSON object")
    pid = obj.get("id")
    pid = fallback_id if pid is None else pid if isinstance(pid, str) else str(pid)
    problem = _problem_with(obj)
    if problem:
        return Result(id=pid, status="error", reason=f"{where}: {problem}")
    obj["id"] = pid
    if obj.get("language", "") is None:
        del obj["language"]  # null means the default, as for every other optional field
    elif "language" in obj:
        obj["language"] = sandbox_language(obj["language"])  # js -> javascript, sqlite -> sql, ...
    try:
        return Program.model_validate(obj)
    except ValidationError as exc:  # anything the checks above did not foresee still gets its result line
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first.get("loc", ()))
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        return Result(id=pid, status="error", reason=f"{where}: field '{field}': {msg}" if field else f"{where}: {msg}")


def _problem_with(obj: dict) -> str:
    """What is wrong with an input object, or ""."""
    if obj.get("code") is None:
        return "missing field 'code'" if "code" not in obj else "field 'code' must be str, got null"
    for key, value in obj.items():
        want = _FIELDS.get(key)
        if want is None:
            return f"unknown field '{key}'"
        if value is not None and not isinstance(value, want):
            return f"field '{key}' must be {want.__name__}, got {type(value).__name__}"
    if obj.get("language") is not None and sandbox_language(obj["language"]) is None:
        return f"unsupported language {obj['language']!r} (the sandbox runs {', '.join(LANGUAGES)})"
    if obj.get("tests") is not None and not all(isinstance(t, str) for t in obj["tests"]):
        return "field 'tests' must be a list of strings"
    return ""


class _ResultWriter:
    """Appends and flushes one line per result, so a crash loses nothing already finished."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def write(self, result: Result) -> None:
        line = json.dumps(result.model_dump(exclude_none=True), ensure_ascii=False)
        with self.lock:
            self.fh.write(line + "\n")
            self.fh.flush()
            self.counts[result.status] += 1


def _programs(fh: IO[str], path: Path, writer: _ResultWriter) -> Iterator[Program]:
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            item = parse_line(raw, lineno, str(path))
            if isinstance(item, Result):
                writer.write(item)
            else:
                yield item


def _open_input(path: Path, output: Path) -> IO[str]:
    """The input stream (a file, a FIFO, /dev/stdin), after checking it is not also the output."""
    if not path.exists():
        raise _InputError(f"input file not found: {path}")
    if path.is_dir():
        raise _InputError(f"input is a directory, not a JSONL file: {path}")
    if output.exists() and os.path.samefile(path, output):
        raise _InputError(f"--output {output} is the input file; writing results would erase it")
    try:
        return path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _InputError(f"cannot read input {path}: {exc.strerror or exc}") from None


class _InputError(ValueError):
    pass


def _explain(isolation, limits: Limits) -> None:
    from codesft.evaluate.imports import BENCHMARKS, benchmark_modules, importable
    from codesft.sandbox.languages import describe_languages
    from codesft.sandbox.pool import SandboxPool

    typer.echo(f"backend: {isolation.backend}")
    for layer in isolation.layers:
        typer.echo(f"  + {layer}")
    for gap in isolation.missing:
        typer.echo(f"  - NOT in force: {gap}")
    typer.echo("languages (\"language\" of an input line), each checked on known programs inside the sandbox:")
    with SandboxPool(limits, 1, isolation.backend) as pool:
        for language, text in describe_languages(pool).items():
            typer.echo(f"  {language}: {text}")
    needed = {name: benchmark_modules(name) for name in BENCHMARKS}
    found = importable(sorted({m for mods in needed.values() for m in mods}), limits, isolation.backend)
    typer.echo("modules the benchmarks import, importable inside the sandbox:")
    for name, mods in needed.items():
        missing = [m for m in mods if found.get(m)]
        typer.echo(f"  {name}: {len(mods) - len(missing)}/{len(mods)} importable: {', '.join(mods)}")
        for m in missing:
            typer.echo(f"    - NOT importable: {m} ({found[m]})")


# size: mostly typer option declarations, one per flag; the body after them is short
def exec_command(
    input: Path = typer.Argument(None, help="JSONL file (or FIFO), one program per line: id, code, setup?, test?, entry_point?, stdin?, tests?, expected_stdout?, language? (python, javascript or sql)"),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write one JSON result per input line (streamed)."),
    timeout_s: float = typer.Option(Limits.model_fields["timeout_s"].default, "--timeout-s", help="Wall-clock limit per program, seconds."),
    timeout_legacy: Optional[float] = typer.Option(None, "--timeout", hidden=True, help="Old spelling of --timeout-s."),
    memory_mb: int = typer.Option(Limits.model_fields["memory_mb"].default, help="Address-space limit per process, MB."),
    max_processes: int = typer.Option(Limits.model_fields["max_processes"].default, help="Processes/threads a program may have at once."),
    max_output_bytes: int = typer.Option(Limits.model_fields["max_output_bytes"].default, help="Cap on stored stdout and stderr each."),
    workers: int = typer.Option(0, help="Parallel sandboxes (0 = one per CPU core)."),
    backend: str = typer.Option("auto", help="auto (strongest available), namespaces, or rlimits (no isolation beyond limits)."),
    explain: bool = typer.Option(False, "--explain", help="Print the isolation in force on this host, what programs in each language can use, and which modules the benchmarks need are importable inside it, and exit."),
) -> None:
    """Run untrusted programs in the sandbox; one result line per input line (see docs/sandbox.md)."""
    from codesft.sandbox.pool import SandboxPool, SandboxUnavailable, probe

    if backend not in ("auto", "namespaces", "rlimits"):
        raise typer.BadParameter(f"unknown backend {backend!r}", param_hint="--backend")
    limits = Limits(timeout_s=timeout_legacy if timeout_legacy is not None else timeout_s, memory_mb=memory_mb,
                    max_processes=max_processes, max_output_bytes=max_output_bytes)
    try:
        isolation = probe(backend, limits)  # type: ignore[arg-type]
    except SandboxUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if explain:
        try:
            _explain(isolation, limits)
        except RuntimeError as exc:  # the probe program itself could not run: the harness's fault
            typer.echo(f"error: sandbox harness fault: {exc}", err=True)
            raise typer.Exit(1)
        return
    if input is None or output is None:
        typer.echo("error: INPUT and --output are required (or use --explain)", err=True)
        raise typer.Exit(2)
    try:
        source = _open_input(input, output)
    except _InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fh = output.open("w", encoding="utf-8")
    except OSError as exc:
        source.close()
        typer.echo(f"error: cannot write output {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2)
    if isolation.missing:
        typer.echo("warning: weaker isolation: " + "; ".join(isolation.missing), err=True)
    start = time.monotonic()
    progress = False
    with fh:
        writer = _ResultWriter(fh)
        pool = SandboxPool(limits, workers or None, isolation.backend)  # type: ignore[arg-type]
        for result in pool.imap(_programs(source, input, writer)):
            writer.write(result)
            done = sum(writer.counts.values())
            if sys.stderr.isatty() and done % 50 == 0:
                typer.echo(f"\r{done} programs, {done / (time.monotonic() - start):.1f}/s", err=True, nl=False)
                progress = True
    if progress:  # end the progress line, or the summary below runs into it
        typer.echo("", err=True)
    total = sum(writer.counts.values())
    counts = ", ".join(f"{k} {v}" for k, v in sorted(writer.counts.items()))
    typer.echo(f"{total} programs in {time.monotonic() - start:.1f} s: {counts or 'none'} -> {output}", err=True)
    typer.echo(isolation.summary(), err=True)


def register(app: typer.Typer) -> None:
    app.command("exec")(exec_command)
