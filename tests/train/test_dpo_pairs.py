"""One preference pair per record: the DPO export, `train --method dpo` and FGit's incorrect twin agree.

The tricky records are those where matching the solution in the answer can go more than one way: the solution
shown twice, or a variant whose trailing whitespace differs from the solution's."""

from __future__ import annotations

import pytest

from codesft.export.formats import rows_and_compatibility, sample_dict
from codesft.schema import Message, ToolCall, ToolCallFunction
from codesft.train.config import TrainConfig
from codesft.train.data import encode, render, tokenize
from codesft.train.run import dpo_rows, preflight

SOLUTION = "def small(n):\n    return n < 3\n"


def _tricky(make_sample) -> list:
    twice = make_sample("Is n small?", SOLUTION, "def small(n):\n    return n <= 3\n", sid="twice")
    twice.messages[-1].content = f"```python\n{SOLUTION}```\nOnce more:\n```python\n{SOLUTION}```"
    # The variant lost its trailing newline: a swap of the exact text would glue it to the closing fence.
    no_newline = make_sample("Is n small?", SOLUTION, "def small(n):\n    return n <= 3", sid="no-newline")
    return [twice, no_newline]


def _exported_dpo(samples: list) -> list[dict]:
    """The rows the bundle writer puts in dpo/*.jsonl (the same call the export makes per record)."""
    rows = []
    for s in samples:
        row, compat = rows_and_compatibility(sample_dict(s), ["dpo"])
        assert compat["dpo"] == "ok", (s.sample_id, compat)
        rows.append(row["dpo"])
    return rows


def test_dpo_export_and_dpo_training_hold_the_same_pairs(pair_samples, sample_factory):
    samples = pair_samples + _tricky(sample_factory)
    assert dpo_rows(samples) == _exported_dpo(samples)
    by_id = dict(zip((s.sample_id for s in samples), dpo_rows(samples)))
    rejected = by_id["twice"]["rejected"][0]["content"]
    assert "n < 3" not in rejected and rejected.count("n <= 3") == 2
    assert by_id["no-newline"]["rejected"][0]["content"].endswith("n <= 3\n```")


@pytest.mark.parametrize("index", [0, 1], ids=["twice", "no-newline"])
def test_fgit_incorrect_twin_is_the_dpo_rejected_turn(tokenizer, sample_factory, index):
    sample = _tricky(sample_factory)[index]
    e = encode(sample, tokenizer, 512, with_fault=True)
    row = _exported_dpo([sample])[0]
    text, _ = render(tokenizer, row["prompt"] + row["rejected"])
    assert e.incorrect_input_ids == tokenize(tokenizer, text, 512)[0]


def test_dpo_preflight_names_a_record_the_export_cannot_pair(tokenizer, pair_samples, sample_factory):
    s = sample_factory("Is n small?", SOLUTION, "def small(n):\n    return n <= 3\n", sid="tools")
    call = ToolCall(id="c1", function=ToolCallFunction(name="run", arguments="{}"))
    s.messages.insert(2, Message(role="assistant", content="", tool_calls=[call]))
    s.messages.insert(3, Message(role="tool", content="ok", tool_call_id="c1"))
    assert rows_and_compatibility(sample_dict(s), ["dpo"])[1]["dpo"] == "has tool calls (see hf_tool_calling)"
    config = TrainConfig(model="unused", data="unused", method="dpo")
    _, report = preflight(config, [s, pair_samples[0]], tokenizer)
    assert not report.passed and report.ok == 1
    assert report.problems["tools"] == ["dpo: no preference pair (has tool calls (see hf_tool_calling))"]
