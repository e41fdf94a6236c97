"""Isolated execution of untrusted code: the one engine used for data verification, fault checks and evaluation.

    from codesft.sandbox import Program, Limits, run, run_many
    result = run(Program(id="x", code="def f(): return 1", test="assert f() == 1"))

Before trusting verdicts for a score, call `check_sandbox(limits)`: it raises HarnessFault when the
sandbox misjudges known programs (codesft.sandbox.canary).

See docs/sandbox.md for the limits, the isolation layers and what each needs.
"""

from codesft.sandbox.canary import HarnessFault, check_sandbox
from codesft.sandbox.pool import Isolation, SandboxPool, SandboxUnavailable, probe, run, run_many
from codesft.sandbox.types import Limits, Program, Result, Status, TestOutcome

__all__ = ["HarnessFault", "Isolation", "Limits", "Program", "Result", "SandboxPool", "SandboxUnavailable", "Status",
           "TestOutcome", "check_sandbox", "probe", "run", "run_many"]
