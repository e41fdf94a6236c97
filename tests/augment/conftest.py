"""A fake teacher for `codesft augment`: tests/conftest.py's local OpenAI-compatible server, its answers scripted
by what the request says and by its seed (the candidate's index), so any request order gives the same answers;
and a small bundle curated from the example assets."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

ASSETS = Path(__file__).resolve().parents[2] / "codesft" / "data" / "examples" / "assets"

# (needles that must all occur in the request's text, seed -> ("ok", answer) | ("http", status)); first match wins.
Rule = tuple[tuple[str, ...], Callable[[int], tuple[str, object]]]


def by_rules(rules: list[Rule], body: dict) -> tuple[str, object]:
    """The first rule whose needles all occur in the request's text answers it (an empty answer when none does)."""
    text = "\n".join(m["content"] for m in body["messages"])
    rule = next((r for needles, r in rules if all(n in text for n in needles)), None)
    return rule(int(body["seed"])) if rule else ("ok", "")


@pytest.fixture
def teacher(openai_server):
    """`teacher(rules, stall=None)`: tests/conftest.py's ScriptedOpenAI answering by `rules`."""
    return lambda rules, stall=None: openai_server(functools.partial(by_rules, rules), stall)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """Curated by `codesft curate` from the example assets: 8 train records with tests (is_palindrome, chunk,
    merge_intervals, fib, gcd, host_port, word_count, second_largest, in this order), 1 test-split one."""
    from codesft.cli import app

    out = tmp_path_factory.mktemp("augment-bundle")
    result = CliRunner().invoke(app, ["curate", "--out", str(out), "--name", "b", "--seed", "0",
                                      "--input", f"eval_questions:{ASSETS / 'eval_questions.jsonl'}",
                                      "--input", f"eval_questions:{ASSETS / 'mbpp_style.jsonl'}"])
    assert result.exit_code == 0, result.output
    return out / "b" / "v1.0.0"

