"""The one way to turn a record and a candidate code into a sandbox `Program`.

Curate's verify stage, `faults` (the correct solution and each variant), `eval` on a bundle's test split and
the review re-verify all build their programs here, so a record that passes one of them is run the same
way by the others. The record's `code.language` picks the harness (`languages.sandbox_language`):

- python: the record's `setup` (imports, fixtures) runs first, then the candidate code, then the record's
  tests; `check(<entry_point>)` is called last only when the tests define a top-level `check` (the HumanEval
  convention); plain asserts get no call.
- javascript: the same order -- `setup`, the code, the tests (node:assert or node:test), `check(<entry_point>)`
  when the tests define a top-level `check` -- as scripts sharing one scope in node.
- sql: `setup` is the schema and seed rows, the code is the query, the tests are the expected rows
  (`codesft.schema.SqlExpectation` as JSON).

A record in any other language has no program: `UnsupportedLanguage` (callers leave such records unverified).
"""

from __future__ import annotations

import re

from codesft.sandbox.languages import LANGUAGES, sandbox_language
from codesft.sandbox.types import Program
from codesft.schema import Sample

_CHECK_DEF = re.compile(r"^def\s+check\s*\(", re.M)
_JS_CHECK_DEF = re.compile(r"^(?:async\s+)?function\s*\*?\s*check\s*\(|^(?:const|let|var)\s+check\s*=", re.M)


class UnsupportedLanguage(ValueError):
    """The record's language is not one the sandbox runs."""


def with_setup(setup: str | None, code: str) -> str:
    """The program body: setup before the code, so the code may use what the setup imports or defines."""
    return f"{setup}\n{code}" if setup else code


def check_entry(entry_point: str | None, tests: str | None, language: str = "python") -> str | None:
    """The entry point to call check() with, or None when the tests define no check function."""
    pattern = _JS_CHECK_DEF if language == "javascript" else _CHECK_DEF
    return entry_point if entry_point and tests and pattern.search(tests) else None


def program_for(sample: Sample, code: str, *, id: str | None = None) -> Program:
    """`code` (the record's solution, a variant of it, or a model's answer) under the record's tests, in the
    record's language. `id` defaults to the record's sample_id. The record must have a `code` section."""
    c = sample.code
    if c is None:
        raise ValueError(f"record {sample.sample_id} has no code to run")
    pid = sample.sample_id if id is None else id
    language = sandbox_language(c.language)
    if language == "python":
        # The Python program keeps its historical shape (setup joined to the code), so its verdict-cache keys
        # and every Python result stay what they were.
        return Program(id=pid, code=with_setup(c.setup, code), test=c.tests,
                       entry_point=check_entry(c.entry_point, c.tests))
    if language == "javascript":
        return Program(id=pid, language="javascript", setup=c.setup or None, code=code, test=c.tests,
                       entry_point=check_entry(c.entry_point, c.tests, "javascript"))
    if language == "sql":
        return Program(id=pid, language="sql", setup=c.setup or None, code=code, test=c.tests)
    raise UnsupportedLanguage(f"record {sample.sample_id}: the sandbox does not run {c.language!r} "
                              f"(it runs {', '.join(LANGUAGES)})")
