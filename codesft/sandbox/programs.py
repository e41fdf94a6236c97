"""The one way to turn a record and a candidate code into a sandbox `Program`.

Curate's verify stage, `faults` (the correct solution and each variant), `eval` on a bundle's test split and
the review re-verify all build their programs here, so a record that passes one of them is run the same
way by the others:

- the record's `setup` (imports, fixtures) runs first, then the candidate code, then the record's tests;
- `check(<entry_point>)` is called last only when the tests define a top-level `check` (the HumanEval
  convention); plain asserts get no call.
"""

from __future__ import annotations

import re

from codesft.sandbox.types import Program
from codesft.schema import Sample

_CHECK_DEF = re.compile(r"^def\s+check\s*\(", re.M)


def with_setup(setup: str | None, code: str) -> str:
    """The program body: setup before the code, so the code may use what the setup imports or defines."""
    return f"{setup}\n{code}" if setup else code


def check_entry(entry_point: str | None, tests: str | None) -> str | None:
    """The entry point to call check() with, or None when the tests define no check function."""
    return entry_point if entry_point and tests and _CHECK_DEF.search(tests) else None


def program_for(sample: Sample, code: str, *, id: str | None = None) -> Program:
    """`code` (the record's solution, a variant of it, or a model's answer) under the record's tests.
    `id` defaults to the record's sample_id. The record must have a `code` section."""
    c = sample.code
    if c is None:
        raise ValueError(f"record {sample.sample_id} has no code to run")
    return Program(id=sample.sample_id if id is None else id, code=with_setup(c.setup, code), test=c.tests,
                   entry_point=check_entry(c.entry_point, c.tests))
