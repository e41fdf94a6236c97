"""The languages the sandbox runs, the names records use for them, and a check per language that its harness
judges known programs right before any verdict in that language is trusted.

Python's check is the evaluator's benchmark canary (codesft.evaluate.canary: it needs the benchmarks). The
JavaScript and SQL checks below are small programs with known verdicts: a correct one must pass and a wrong
one must fail. A missing node, a node that cannot start under the sandbox's limits, or a Python without
sqlite3 makes the check fail with the sandbox's reason, so a command stops instead of rejecting records.
"""

from __future__ import annotations

from typing import Any

from codesft.sandbox.types import Language, Limits, Program

LANGUAGES: tuple[Language, ...] = ("python", "javascript", "sql")
_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "node": "javascript", "nodejs": "javascript",
            "sqlite": "sql", "sqlite3": "sql"}


def sandbox_language(name: str | None) -> Language | None:
    """The sandbox language a record's `code.language` names (case and common aliases ignored), or None when the
    sandbox cannot run it."""
    key = (name or "").strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in LANGUAGES else None  # type: ignore[return-value]


_JS_TEST = "const assert = require('node:assert');\nassert.strictEqual(add(2, 3), 5);\n"
_SQL_SETUP = "CREATE TABLE t (k INTEGER, v TEXT);\nINSERT INTO t VALUES (1, 'a'), (2, 'b');\n"
_SQL_TEST = '{"order":"ordered","rows":[[2,"b"],[1,"a"]]}'


def language_checks(language: Language) -> list[tuple[Program, bool]]:
    """(program, must pass) pairs with known verdicts for a language other than python."""
    if language == "javascript":
        return [(Program(id="check-javascript-correct", language="javascript",
                         code="function add(a, b) {\n  return a + b;\n}\n", test=_JS_TEST), True),
                (Program(id="check-javascript-wrong", language="javascript",
                         code="function add(a, b) {\n  return a - b;\n}\n", test=_JS_TEST), False)]
    if language == "sql":
        return [(Program(id="check-sql-correct", language="sql", setup=_SQL_SETUP,
                         code="SELECT k, v FROM t ORDER BY k DESC;", test=_SQL_TEST), True),
                (Program(id="check-sql-wrong", language="sql", setup=_SQL_SETUP,
                         code="SELECT k, v FROM t ORDER BY k;", test=_SQL_TEST), False)]
    raise ValueError(f"no language check for {language!r} (python's is the evaluator's canary)")


class LanguageUnavailable(RuntimeError):
    """The sandbox misjudged a known program of a language: its verdicts in that language would be the
    harness's fault."""


# (back-end, language, limits, node's path) that passed in this process
_checked: set[tuple[str, Language, Limits, str | None]] = set()


def check_language(pool: Any, language: Language) -> None:
    """Run the language's known programs in `pool` (a SandboxPool: its back-end and limits); raise
    LanguageUnavailable when one comes out wrong. Once per process for a back-end, language and limits."""
    from codesft.sandbox.node import node_runtime

    key = (pool.backend, language, pool.limits, (node_runtime() or {}).get("path") if language == "javascript" else None)
    if language == "python" or key in _checked:
        return
    cases = language_checks(language)
    results = {r.id: r for r in pool.imap([p for p, _ in cases])}
    faults = []
    for program, must_pass in cases:
        r = results.get(program.id)
        want = "passed" if must_pass else "failed"
        if r is None or r.status != want:
            got = "no result" if r is None else f"{r.status}: {(r.reason or r.stderr.strip()[-300:]) or 'no reason'}"
            faults.append(f"the {'correct' if must_pass else 'wrong'} {language} program came out {got} "
                          f"instead of {want}")
    if faults:
        raise LanguageUnavailable(f"the sandbox cannot judge {language} programs: " + "; ".join(faults))
    _checked.add(key)


def describe_languages(pool: Any) -> dict[str, str]:
    """For `codesft exec --explain`: per language, what programs can use and whether its check passes here."""
    import sqlite3
    import sys

    from codesft.sandbox.node import node_runtime

    out = {"python": f"Python {sys.version.split()[0]} ({sys.executable}): the standard library and the packages "
                     "of this environment (see the benchmark modules below)"}
    runtime = node_runtime()
    js = (f"node {runtime['version']} at {runtime['path']}: node's built-in modules (node:assert, node:test, fs, child_process, ...), "
          "no npm packages; code, then tests, as scripts in one scope") if runtime else "node not found on PATH"
    sql = (f"SQLite {sqlite3.sqlite_version} through Python's sqlite3, a fresh in-memory database per program; "
           "no ATTACH, no extensions")
    for language, text in (("javascript", js), ("sql", sql)):
        try:
            check_language(pool, language)  # type: ignore[arg-type]
            out[language] = text
        except LanguageUnavailable as exc:
            out[language] = f"NOT available: {text}: {exc}"
    return out
