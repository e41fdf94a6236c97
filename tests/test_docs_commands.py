"""Every command line quoted in README.md and docs/*.md runs, on tiny inputs.

The pages are parsed here, so a newly documented command is picked up without touching this file:

- Fenced blocks labelled bash, sh, shell or console, or unlabelled: each line is a command (console: the `$ `
  lines; the lines after one are its output, compared when they are JSON). `\\` continues a line, `&&` chains
  commands, `#` starts a comment. A page's commands run in their order in one workspace of that page (a fresh
  directory with the checkout's examples/, codesft/ and benchmarks/ linked in, as the docs assume), so the
  output of one feeds the next, as for a reader following the page.
- A synopsis (a line with `[optional]` parts or `...`) and an inline `codesft ...` / `python benchmarks/...`
  span in the prose are not whole commands: every option they name must exist in that command.

Tiny inputs: the 0.5B demo model is replaced by the tiny random model, and TINY_LIMITS are appended to a command
(later options win, so the documented options are still parsed and checked). Files the docs take to be the
reader's own (data/questions.jsonl, ./my-model, eval.yaml, ...) are made by INPUTS when a command reads one.
The few commands that cannot run here are in NOT_RUN, each with its reason.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import typer
import yaml
from typer.testing import CliRunner

from codesft.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
DEMO_MODEL = "offline:qwen2.5-coder-0.5b-instruct"

# Commands that are not run here (their options are still checked where the program is codesft or a benchmark
# script). Keep this short: every entry must match a documented command (test_not_run_entries_are_used).
NOT_RUN: list[tuple[str, str]] = [
    (r"^pip install", "installs from the package index; tests/test_packaging.py installs a wheel instead"),
    (r"^python -m pytest", "the test suite itself"),
    (r"^accelerate launch", "several processes or GPUs; tests/train/test_train_accelerate.py runs CPU DDP"),
    (r"--generator teacher", "needs an OpenAI-compatible server (tests/faults use a local stub)"),
    (r"--embedder", "needs a sentence-transformers model directory"),
    (r"^codesft sample .*--backend openai", "needs an OpenAI-compatible server (tests/sample use a scripted one)"),
    (r"^codesft llamacpp build", "compiles llama-server (minutes); the slow test of tests/sample/test_llamacpp.py "
                                 "builds it when none is found"),
    (r"--backend llamacpp", "needs a llama-server build and a GGUF model: tests/sample/test_llamacpp.py runs a "
                            "stand-in server (and the real one, slow)"),
    (r"^python benchmarks/fgit_vs_sft\.py", "hours of training, and --publish writes into docs/; "
                                            "tests/test_fgit_experiment.py runs it on the tiny model (slow)"),
]

# Appended to the commands that match (later options win), so each takes seconds: one training step, one
# problem, a few tokens; the model-based fault generators make one short variant for the validation split only.
TINY_LIMITS: list[tuple[str, list[str]]] = [
    # A random model passes no test, so the demo's `answers: self` would leave FGit without a pair: the run takes
    # the references here (the self-sample path runs with a scripted server in tests/test_run_pipeline.py).
    (r"^codesft run\b", ["--train.max-steps", "1", "--eval.limit", "1", "--eval.max-new-tokens", "8",
                          "--answers", "references"]),
    (r"^codesft train\b", ["--max-steps", "1"]),
    (r"^codesft eval run\b", ["--limit", "1", "--max-new-tokens", "8"]),
    (r"^codesft sample\b", ["--k", "1", "--max-new-tokens", "8"]),
    (r"^codesft faults .*--generator local", ["--config", "tiny-faults.yaml"]),  # these fields are YAML-only
]
TINY_FAULTS = {"max_new_tokens": 16, "k": 1, "splits": ["validation"]}
# These name the demo model in their config (a preset, codesft/configs/train/*.yaml), not on the line.
MODEL_FROM_CONFIG = r"^codesft (run|train)\b"
OUTPUT_OPTIONS = {"--out", "--output", "-o", "--output-dir"}


@dataclass(frozen=True)
class DocCommand:
    page: str
    line: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    whole: bool = True  # False: a synopsis or an inline mention; its options are checked, it is not run
    output: str | None = None  # the output a console block shows for it

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def text(self) -> str:
        return " ".join(self.argv)

    def not_run_reason(self) -> str | None:
        return next((why for pattern, why in NOT_RUN if re.search(pattern, self.text)), None)


# ---- reading the docs -------------------------------------------------------------------------------------

def _blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(label, line number of the first content line, lines) of every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
        yield fence.group(1), i + 2, lines[i + 1:end]
        i = end + 1


def _split(text: str, page: str, line: int, whole: bool, output: str | None = None) -> list[DocCommand]:
    tokens = shlex.split(text, comments=True)
    out, current = [], []
    for tok in [*tokens, "&&"]:
        if tok != "&&":
            current.append(tok)
            continue
        env = []
        while current and re.match(r"^[A-Z_][A-Z0-9_]*=", current[0]):
            env.append(tuple(current.pop(0).split("=", 1)))
        if current:
            # `[--option VALUE]` and `...` mark a synopsis; a quoted YAML value such as '[1, 5]' does not.
            synopsis = any(t.startswith("[-") or "..." in t for t in current)
            out.append(DocCommand(page, line, tuple(current), tuple(env), whole and not synopsis, output))
        current = []
    if output is not None and out:
        out[:-1] = [DocCommand(c.page, c.line, c.argv, c.env, c.whole) for c in out[:-1]]
    return out


def _block_commands(page: str, label: str, first: int, lines: list[str]) -> list[DocCommand]:
    commands: list[DocCommand] = []
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        # `\` continues a line; so does an indented line after an unfinished one (a synopsis wrapped by hand).
        while i + 1 < len(lines) and (text.rstrip().endswith("\\") or (
                label == "" and lines[i + 1][:1].isspace() and lines[i + 1].strip())):
            i += 1
            text = text.rstrip().removesuffix("\\") + " " + lines[i].strip()
        i += 1
        if label == "console":
            if not text.startswith("$ "):
                continue
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            commands += _split(text[2:], page, first + start, True, "\n".join(shown).strip() or None)
        elif text.strip() and not text.lstrip().startswith("#"):
            commands += _split(text, page, first + start, True)
    return commands


def doc_commands() -> list[DocCommand]:
    commands: list[DocCommand] = []
    for path in PAGES:
        page, text = str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
        for label, first, lines in _blocks(text):
            if label in SHELL_BLOCKS:
                commands += _block_commands(page, label, first, lines)
        prose = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        for m in re.finditer(r"`((?:codesft(?= )|python benchmarks/)[^`]*)`", prose):
            if " -" in m.group(1):  # a bare name (`codesft train`) is not a command line
                commands += _split(m.group(1), page, prose.count("\n", 0, m.start()) + 1, False)
    return commands


COMMANDS = doc_commands()
RUN = [c for c in COMMANDS if c.whole and c.not_run_reason() is None]


def _program(argv: tuple[str, ...]) -> tuple[str, ...]:
    """("codesft", "eval", "run") / ("python", "benchmarks/x.py") / the first word of anything else."""
    if argv[0] == "codesft":
        cmd, path = typer.main.get_command(app), ["codesft"]
        for word in argv[1:]:
            if word not in getattr(cmd, "commands", {}):  # typer vendors its own click: no isinstance check
                break
            cmd, path = cmd.commands[word], [*path, word]
        return tuple(path)
    if argv[0] == "python" and len(argv) > 1 and argv[1].startswith("benchmarks/"):
        return tuple(argv[:2])
    return argv[:1]


# ---- option check -----------------------------------------------------------------------------------------

@functools.cache
def _known_options(program: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(option names, dotted prefixes such as `--eval.` that take any FIELD) of codesft or a benchmark script."""
    if program[0] == "codesft":
        cmd = typer.main.get_command(app)
        for word in program[1:]:
            cmd = cmd.commands[word]
        names = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        # A config-driven command takes its config's fields too; its help text lists them.
        config_driven = (cmd.context_settings or {}).get("ignore_unknown_options", False)
        text = f"{cmd.help or ''}\n{cmd.epilog or ''}" if config_driven else ""
    else:  # python benchmarks/SCRIPT.py
        proc = subprocess.run([sys.executable, program[1], "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        names, text = {"--help"}, proc.stdout
    names |= set(re.findall(r"(?<![\w-])--[a-z](?:[\w.-]*[a-z0-9])?", text))
    prefixes = {m + "." for m in re.findall(r"(--[a-z][\w-]*)\.(?:NAME\.)?FIELD", text)}
    return names, prefixes


def _ours(command: DocCommand) -> bool:
    program = _program(command.argv)
    return program[0] == "codesft" or len(program) == 2


@pytest.mark.parametrize("command", [c for c in COMMANDS if _ours(c)], ids=lambda c: c.id)
def test_documented_options_exist(command: DocCommand) -> None:
    program = _program(command.argv)
    names, prefixes = _known_options(program)
    for arg in command.argv[len(program):]:
        opt = arg.split("=", 1)[0]
        if not opt.startswith("--") or "<" in opt or opt == "--":
            continue
        negated = opt.startswith("--no-") and f"--{opt[5:]}" in names  # --no-FLAG of a config's bool field
        ok = opt in names or negated or opt.startswith(tuple(prefixes))
        assert ok, f"{command.id}: `{' '.join(program)}` has no option {opt} (documented: {command.text})"


def test_not_run_entries_are_used() -> None:
    assert len(RUN) >= 20, [c.id for c in RUN]  # the parser found the pages' commands
    for pattern, why in NOT_RUN:
        assert any(re.search(pattern, c.text) for c in COMMANDS if c.whole), f"stale NOT_RUN entry {pattern!r} ({why})"


# ---- the reader's own files -------------------------------------------------------------------------------

ASSETS = ROOT / "codesft" / "data" / "examples" / "assets"


@pytest.fixture(scope="session")
def tiny_model() -> str:
    from codesft.tiny_model import resolve_run_model

    return resolve_run_model("tiny:random")


def _eval_run(tiny: str, out: Path) -> None:
    from codesft.evaluate import EvalConfig, run_eval

    run_eval(EvalConfig(model=tiny, benchmark="humaneval", limit=1, max_new_tokens=8, out=str(out)), log=lambda s: None)


def _samples(path: Path) -> None:
    import gzip

    with gzip.open(ROOT / "codesft" / "data" / "benchmarks" / "HumanEvalPlus-v0.1.10.jsonl.gz", "rt") as fh:
        rows = [json.loads(next(fh)) for _ in range(2)]
    path.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]})
                            + "\n" for r in rows))


def _team_questions(path: Path) -> None:
    """A team's question file large enough that its test split holds problems with tests: the example
    questions plus MBPP's train-split problems 601-640 (MBPP format; not a protected benchmark split)."""
    import gzip

    with gzip.open(ROOT / "codesft" / "data" / "benchmarks" / "mbpp.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [r for r in map(json.loads, fh) if 601 <= int(r["task_id"]) <= 640]
    path.write_text((ASSETS / "eval_questions.jsonl").read_text() + "".join(json.dumps(r) + "\n" for r in rows))


def _write(text: str) -> Callable[[Path, str], None]:
    return lambda path, tiny: path.write_text(text)


SPANS_CORRECT, SPANS_INCORRECT = "def f(n):\n    return n < 3\n", "def f(n):\n    return n <= 3\n"

# Path as the docs write it -> how to make it (in the page's workspace, the current directory).
INPUTS: dict[str, Callable[[Path, str], None]] = {
    "data/questions.jsonl": lambda p, tiny: _team_questions(p),
    "data/reviews.jsonl": lambda p, tiny: shutil.copy(ASSETS / "code_reviews.jsonl", p),
    "../our-service": lambda p, tiny: subprocess.run(["git", "clone", "-q", str(ASSETS / "sample_repo.bundle"), str(p)],
                                                     check=True),
    "my-model": lambda p, tiny: shutil.copytree(tiny, p),
    "eval.yaml": _write("model: ./my-model\nbenchmark: humaneval\nout: runs/sampled\n"),
    "my_run.yaml": _write("preset: tiny\nmodel: ./my-model\nout: runs/my-run\n"),
    "samples.jsonl": lambda p, tiny: _samples(p),
    "runs/sft": lambda p, tiny: _eval_run(tiny, p),
    "runs/fgit": lambda p, tiny: _eval_run(tiny, p),
    "correct.py": _write(SPANS_CORRECT), "incorrect.py": _write(SPANS_INCORRECT),
    "c.py": _write(SPANS_CORRECT), "w.py": _write(SPANS_INCORRECT),
}
NEEDS = {"eval.yaml": ["my-model"], "my_run.yaml": ["my-model"]}


def _make(name: str, tiny: str) -> None:
    path = Path(name)
    if path.exists():
        return
    for dep in NEEDS.get(name, []):
        _make(dep, tiny)
    path.parent.mkdir(parents=True, exist_ok=True)
    INPUTS[name](path, tiny)


def _make_inputs(argv: list[str], tiny: str) -> None:
    """Make every input the command reads that the docs take as the reader's own; outputs are never pre-made."""
    for i, arg in enumerate(argv):
        if i and argv[i - 1] in OUTPUT_OPTIONS:
            continue
        for candidate in {arg, arg.partition(":")[2]}:
            name = os.path.normpath(candidate) if candidate else ""
            if name in INPUTS:
                _make(name, tiny)


# ---- running ----------------------------------------------------------------------------------------------

def _tiny_argv(command: DocCommand, tiny: str) -> list[str]:
    argv = [a.replace(DEMO_MODEL, tiny) for a in command.argv]
    for pattern, extra in TINY_LIMITS:
        if re.search(pattern, command.text):
            argv += extra
    if re.search(MODEL_FROM_CONFIG, command.text) and "--model" not in argv:
        argv += ["--model", tiny]
    return argv


def _execute(command: DocCommand, tiny: str) -> None:
    argv = _tiny_argv(command, tiny)
    _make_inputs(argv, tiny)
    env = dict(command.env)
    if argv[0] == "codesft":
        result = CliRunner().invoke(app, argv[1:], env=env or None)
        code, stdout, shown = result.exit_code, result.stdout, result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            shown += "".join(traceback.format_exception(result.exception))
    elif argv[0] == "python" and argv[1].startswith("benchmarks/"):
        argv[1] = str(ROOT / argv[1])
        proc = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=600,
                              env={**os.environ, **env})
        code, stdout, shown = proc.returncode, proc.stdout, proc.stdout + proc.stderr
    else:
        raise AssertionError(f"{command.id}: no way to run `{argv[0]}` here; add it or a NOT_RUN entry with a reason")
    assert code == 0, f"{command.id}: `{' '.join(argv)}` exited {code}:\n{shown[-4000:]}"
    if command.output is not None and command.output.lstrip().startswith(("{", "[")):
        assert json.loads(stdout) == json.loads(command.output), f"{command.id}: output differs from the docs"


@dataclass
class _Page:
    workdir: Path
    done: int = 0  # commands of RUN on this page that already ran
    failed: str | None = None


_PAGES: dict[str, _Page] = {}


@pytest.fixture
def page_workspace(tmp_path_factory, monkeypatch) -> Callable[[str], _Page]:
    def get(page: str) -> _Page:
        if page not in _PAGES:
            work = tmp_path_factory.mktemp(re.sub(r"\W", "-", page)) / "work"
            work.mkdir()
            for name in ("examples", "codesft", "benchmarks"):  # the docs' commands start in a checkout
                (work / name).symlink_to(ROOT / name)
            (work / "tiny-faults.yaml").write_text(yaml.safe_dump(TINY_FAULTS))
            _PAGES[page] = _Page(work)
        monkeypatch.chdir(_PAGES[page].workdir)
        return _PAGES[page]
    return get


@pytest.mark.timeout(600)
@pytest.mark.parametrize("command", RUN, ids=lambda c: c.id)
def test_documented_command_runs(command: DocCommand, page_workspace, tiny_model: str) -> None:
    page = page_workspace(command.page)
    on_page = [c for c in RUN if c.page == command.page]
    index = on_page.index(command)
    while page.done < index:  # the commands before it on its page (already run unless selected with -k)
        assert page.failed is None, f"an earlier command of {command.page} failed: {page.failed}"
        try:
            _execute(on_page[page.done], tiny_model)
        except AssertionError:
            page.failed = on_page[page.done].id
            raise
        page.done += 1
    assert page.failed is None, f"an earlier command of {command.page} failed: {page.failed}"
    try:
        _execute(command, tiny_model)
    except AssertionError:
        page.failed = command.id
        raise
    page.done = index + 1
