"""The data model of a benchmark: problems and their test suites (see problems.py for the loaders)."""

from __future__ import annotations

from dataclasses import dataclass, field


class BenchmarkError(ValueError):
    """A benchmark name or file that cannot be loaded; the message names the file and line."""


@dataclass
class Suite:
    """One sandbox program per sample: code + `test` (+ each of `tests`) (+ `check(entry_point)`)."""

    name: str
    test: str | None = None
    tests: list[str] | None = None
    call_check: bool = False
    timeout_s: float | None = None    # the benchmark's own wall-clock need (None: the run's default)
    memory_mb: int | None = None


@dataclass
class Problem:
    task_id: str
    prompt: str                        # completion mode: the code prefix the model continues
    instruction: str                   # instruct mode: the user message
    entry_point: str | None
    reference: str | None              # a correct full solution (BLEU/CodeBLEU reference)
    suites: list[Suite]
    category: str = "all"
    public_tests: list[str] = field(default_factory=list)  # examples visible in the prompt (n@k ranking)
    prepend_prompt: bool = True        # completion mode: the program is prompt + completion
    setup: str | None = None           # runs before the candidate code (a curated record's `setup`), as in verify


@dataclass
class Benchmark:
    name: str
    version: str
    sha256: str                        # of the data file(s) the problems came from
    problems: list[Problem]
    license: str = ""
    skipped: dict[str, int] = field(default_factory=dict)  # records left out of the problems, by reason
