"""The sandbox's typed inputs and outputs. Every limit is documented here and in docs/sandbox.md."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Status = Literal["passed", "failed", "timeout", "memory", "error"]
Language = Literal["python", "javascript", "sql"]
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


class Limits(BaseModel):
    """Per-program limits. Defaults suit unit-test style programs (HumanEval, MBPP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=10.0, gt=0, description="Wall-clock limit for the whole program (code + tests + check).")
    cpu_s: float | None = Field(default=None, gt=0, description="CPU-time limit (RLIMIT_CPU, all threads); default timeout_s + 1.")
    memory_mb: int = Field(default=2048, ge=64, description="Address-space limit per process (RLIMIT_AS) and memory cgroup limit per worker where writable.")
    max_processes: int = Field(default=64, ge=1, description="Processes/threads the program may have at once (RLIMIT_NPROC on a private uid, pids cgroup).")
    max_open_files: int = Field(default=256, ge=16, description="Open file descriptors per process (RLIMIT_NOFILE).")
    max_file_mb: int = Field(default=64, ge=1, description="Largest file the program may write (RLIMIT_FSIZE); also the size of its private tmpfs.")
    max_output_bytes: int = Field(default=1 << 20, ge=1024, description="stdout and stderr are each kept up to this many bytes; the rest is drained and dropped, and the result says it was cut.")
    stack_mb: int = Field(default=256, ge=8, description="Main-thread stack size (RLIMIT_STACK); deep recursion ends as a clean failure, not a hang.")

    @property
    def effective_cpu_s(self) -> float:
        return self.cpu_s if self.cpu_s is not None else self.timeout_s + 1.0


class Program(BaseModel):
    """One program to run. Semantics: run `setup`, `code`, then `test`, then each of `tests`,
    then `check(<entry_point>)` when `entry_point` is given (the HumanEval convention).

    `language` says which harness runs it (docs/sandbox.md, "Languages"): python and javascript run those
    stages in one scope; sql runs `setup` (schema and seed rows) as a script on an in-memory SQLite database,
    then `code` (the query), and compares its rows with `test`, a JSON expectation
    (`codesft.schema.SqlExpectation`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Caller's id, echoed in the result.")
    code: str = Field(description="The program under test (for sql: the query, or statements whose last one returns the rows).")
    test: str | None = Field(default=None, description="Test code run after `code` in the same scope (asserts, or a check function); for sql the JSON expectation of the rows.")
    tests: list[str] | None = Field(default=None, description="Independent test snippets, each run after code+test; every one runs and is reported (APPS-style per-test outcomes). Not for sql.")
    entry_point: str | None = Field(default=None, description="When set, the harness calls check(<entry_point>) last. Not for sql.")
    stdin: str | None = Field(default=None, description="Standard input; empty when not given. Not for sql.")
    expected_stdout: str | None = Field(default=None, description="When set, stdout must equal it (trailing whitespace per line ignored) to pass. Not for sql.")
    setup: str | None = Field(default=None, description="Run before `code`: fixtures in the same scope (python, javascript), or the schema and seed rows (sql).")
    language: Language = Field(default="python", description="Which harness runs the program: python, javascript (node) or sql (SQLite in memory).")

    @model_validator(mode="after")
    def _fits_language(self) -> "Program":
        if self.language == "sql":
            extra = [f for f in ("tests", "entry_point", "stdin", "expected_stdout") if getattr(self, f) is not None]
            if extra:
                raise ValueError(f"a sql program has setup, code and test only, not {', '.join(extra)}")
        elif self.language == "javascript" and self.entry_point is not None and not _IDENTIFIER.match(self.entry_point):
            # The JS harness looks the entry point up by name in the program's scope: only a plain identifier.
            raise ValueError(f"entry_point {self.entry_point!r} is not a JavaScript identifier")
        return self


class TestOutcome(BaseModel):
    index: int
    passed: bool
    error: str = ""


class Result(BaseModel):
    id: str
    status: Status
    reason: str = ""
    exit_code: int | None = None
    signal: int | None = None
    runtime_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    tests: list[TestOutcome] | None = Field(default=None, description="Per-test outcomes when Program.tests was given.")
    max_rss_kb: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class SandboxSettings(BaseModel):
    """The sandbox settings every command that runs records exposes (curate's verify, faults, eval, the review
    re-verify): one definition and one set of defaults, so a record gets the same limits wherever it runs.
    Command configs declare these fields with the `SandboxTimeout`/`SandboxMemory`/`SandboxWorkers` types below
    (not by inheriting: curate's `verify` section must keep its field order, which is the bundle manifest's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The defaults are Limits' own, so `codesft exec` and every command start from the same numbers.
    timeout_s: float = Field(default=Limits.model_fields["timeout_s"].default, gt=0,
                             description="Sandbox wall-clock limit per program (a benchmark may raise it, e.g. HumanEval+).")
    memory_mb: int = Field(default=Limits.model_fields["memory_mb"].default, ge=64,
                           description="Sandbox address-space limit per program.")
    workers: int | None = Field(default=None, ge=1, description="Parallel sandbox workers; null = the CPU count.")

    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


SandboxTimeout = Annotated[float, SandboxSettings.model_fields["timeout_s"]]
SandboxMemory = Annotated[int, SandboxSettings.model_fields["memory_mb"]]
SandboxWorkers = Annotated["int | None", SandboxSettings.model_fields["workers"]]


class UsesSandbox:
    """Mixin for a command config that declares the three sandbox fields: its settings as one object.
    It declares no annotations itself: pydantic would take them as fields and move them to the front."""

    def sandbox_settings(self) -> SandboxSettings:
        return SandboxSettings(timeout_s=getattr(self, "timeout_s"), memory_mb=getattr(self, "memory_mb"),
                               workers=getattr(self, "workers"))
