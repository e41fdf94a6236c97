"""Isolated execution of untrusted code: the one engine used for data verification, fault checks and evaluation.

    from codesft.sandbox import Program, Limits, run, run_many
    result = run(Program(id="x", code="def f(): return 1", test="assert f() == 1"))

Before trusting verdicts for a score, run the evaluator's canary (`codesft.evaluate.canary.check_sandbox`):
it raises HarnessFault when the sandbox misjudges known benchmark programs.

Records become programs through `program_for(sample, code)` -- Python, JavaScript (node) or SQL (SQLite in
memory), by the record's language -- and every command takes its limits from one `SandboxSettings`. Before
trusting JavaScript or SQL verdicts, `check_language(pool, language)` runs that language's known programs. See docs/sandbox.md for the limits, the isolation layers and what each needs.
"""

from codesft.sandbox.languages import LANGUAGES, LanguageUnavailable, check_language, sandbox_language
from codesft.sandbox.pool import Isolation, SandboxPool, SandboxUnavailable, probe, run, run_many
from codesft.sandbox.programs import UnsupportedLanguage, program_for
from codesft.sandbox.types import Limits, Program, Result, SandboxSettings, Status, TestOutcome

__all__ = ["LANGUAGES", "Isolation", "LanguageUnavailable", "Limits", "Program", "Result", "SandboxPool",
           "SandboxSettings", "SandboxUnavailable", "Status", "TestOutcome", "UnsupportedLanguage", "check_language",
           "probe", "program_for", "run", "run_many", "sandbox_language"]
