"""Isolated execution of untrusted code: the one engine used for data verification, fault checks and evaluation.

    from codesft.sandbox import Program, Limits, run, run_many
    result = run(Program(id="x", code="def f(): return 1", test="assert f() == 1"))

Before trusting verdicts for a score, run the evaluator's canary (`codesft.evaluate.canary.check_sandbox`):
it raises HarnessFault when the sandbox misjudges known benchmark programs.

Records become programs through `program_for(sample, code)`, and every command takes its limits from one
`SandboxSettings`. See docs/sandbox.md for the limits, the isolation layers and what each needs.
"""

from codesft.sandbox.pool import Isolation, SandboxPool, SandboxUnavailable, probe, run, run_many
from codesft.sandbox.programs import program_for
from codesft.sandbox.types import Limits, Program, Result, SandboxSettings, Status, TestOutcome

__all__ = ["Isolation", "Limits", "Program", "Result", "SandboxPool", "SandboxSettings",
           "SandboxUnavailable", "Status", "TestOutcome", "probe", "program_for", "run", "run_many"]
