"""Which modules the built-in benchmarks import, and which of them programs can import inside the sandbox
(`codesft exec --explain`). A module missing there fails every program that needs it, whatever its code."""

from __future__ import annotations

import json
import re

from codesft.sandbox.pool import Backend, SandboxPool
from codesft.sandbox.types import Limits, Program

BENCHMARKS = ("humaneval", "humaneval+", "mbpp")
# Import statements at the start of a line. A regex, not ast: HumanEval+ suites are megabytes of literal
# inputs, which all sit on one line, so this stays fast and cannot match inside them.
_IMPORT = re.compile(r"^[ \t]*(?:import[ \t]+([\w. ,]+)|from[ \t]+(\w+)[\w.]*[ \t]+import\b)", re.M)
_PROBE = """import importlib, json
found = {}
for name in MODULES:
    try:
        importlib.import_module(name)
        found[name] = ""
    except BaseException as exc:
        found[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(found))
"""


def modules_in(text: str) -> set[str]:
    """Top-level names of the modules `text` imports."""
    found: set[str] = set()
    for match in _IMPORT.finditer(text):
        if match.group(2):
            found.add(match.group(2))
            continue
        for part in match.group(1).split(","):
            name = part.strip().split(" ")[0].split(".")[0]
            if name:
                found.add(name)
    return found


def benchmark_modules(spec: str) -> list[str]:
    """Modules imported by a benchmark's reference solutions and test suites (the harness included)."""
    from codesft.evaluate.problems import load_benchmark

    found: set[str] = set()
    for problem in load_benchmark(spec).problems:
        texts = [problem.reference or ""]
        for suite in problem.suites:
            texts += [suite.test or "", *(suite.tests or [])]
        for text in texts:
            found |= modules_in(text)
    return sorted(found - {"__future__"})


def importable(modules: list[str], limits: Limits | None = None, backend: Backend = "auto") -> dict[str, str]:
    """module -> "" when a program can import it in the sandbox, else the import error."""
    program = Program(id="imports", code=_PROBE.replace("MODULES", repr(modules)))
    result = next(iter(SandboxPool(limits or Limits(), 1, backend).imap([program])))
    if result.status != "passed":
        raise RuntimeError(f"the import probe did not run in the sandbox: {result.status}: {result.reason}")
    return json.loads(result.stdout.strip().splitlines()[-1])
