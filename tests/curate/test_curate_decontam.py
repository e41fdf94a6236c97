"""Decontamination scans every text of a record (tests and tool turns too) against every protected split."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from codesft.curate.config import PROTECTED_SPLITS, DecontamConfig
from codesft.curate.decontam import BENCH_DIR, decontaminate
from codesft.curate.synthetic import make_sample
from codesft.schema import Message, ToolCall, ToolCallFunction


def _rows(name: str) -> list[dict]:
    with gzip.open(BENCH_DIR / name, "rt") as fh:
        return [json.loads(line) for line in fh]


HUMANEVAL = _rows("HumanEval.jsonl.gz")
MBPP = {p["task_id"]: p for p in _rows("mbpp.jsonl.gz")}


def _verdict(s, cfg: DecontamConfig | None = None) -> str | None:
    out = next(decontaminate([s], cfg or DecontamConfig()))
    return out.quality.reasons[0] if out.quality.decision == "rejected" else None


def test_tests_and_tool_turns_are_scanned():
    he = HUMANEVAL[3]
    in_tests = make_sample(1)
    in_tests.code.tests = "# reference implementation\n" + he["prompt"] + he["canonical_solution"] + "\nassert True\n"
    assert _verdict(in_tests).startswith("contaminated: humaneval/HumanEval/3")
    in_tool = make_sample(2)
    in_tool.messages = [in_tool.messages[0],
                        Message(role="assistant", tool_calls=[ToolCall(id="c1", function=ToolCallFunction(
                            name="read_file", arguments=json.dumps({"path": "task.py"})))]),
                        Message(role="tool", tool_call_id="c1", content=he["prompt"]),
                        in_tool.messages[1]]
    assert _verdict(in_tool).startswith("contaminated: humaneval/HumanEval/3 (prompt")
    in_args = make_sample(3)
    in_args.messages[1].tool_calls = [ToolCall(id="c2", function=ToolCallFunction(
        name="run", arguments=json.dumps({"code": MBPP[11]["code"]})))]
    assert _verdict(in_args).startswith("contaminated: mbpp/11")
    before = make_sample(4)
    before.code.before = HUMANEVAL[5]["prompt"] + HUMANEVAL[5]["canonical_solution"]
    assert _verdict(before).startswith("contaminated: humaneval/HumanEval/5")
    assert _verdict(make_sample(5)) is None


def _with_solution(code: str):
    s = make_sample(7)
    s.code.solution = code
    s.messages[1].content = f"```python\n{code}```"
    return s


def test_every_evaluable_split_but_mbpp_train_is_protected_by_default():
    assert set(DecontamConfig().benchmarks) == set(PROTECTED_SPLITS)
    assert _verdict(_with_solution(MBPP[550]["code"])).startswith("contaminated: mbpp/550")  # validation
    assert _verdict(_with_solution(MBPP[5]["code"])).startswith("contaminated: mbpp/5 ")  # few-shot
    assert _verdict(_with_solution(MBPP[700]["code"])) is None  # train: meant for training
    # HumanEval+ ships its own reference solutions; a copy of one is caught under its name.
    plus = {p["task_id"]: p for p in _rows("HumanEvalPlus-v0.1.10.jsonl.gz")}["HumanEval/10"]
    only_plus = DecontamConfig(benchmarks=["humaneval+"])
    assert _verdict(_with_solution(plus["prompt"] + plus["canonical_solution"]), only_plus).startswith(
        "contaminated: humaneval+/HumanEval/10")
    # The protected set is configurable; `mbpp` still means the test split.
    old = DecontamConfig(benchmarks=["humaneval", "mbpp"])
    assert _verdict(_with_solution(MBPP[550]["code"]), old) is None
    assert _verdict(_with_solution(MBPP[300]["code"]), old).startswith("contaminated: mbpp/300")


@pytest.mark.parametrize("value", ["[mbpp:bogus]", "[apps]"])
def test_an_unknown_split_is_a_user_error(tmp_path, value):
    from codesft.cli import app

    result = CliRunner().invoke(app, ["curate", "--input", f"chats:{tmp_path / 'x.jsonl'}", "--out", str(tmp_path),
                                      "--decontam.benchmarks", value])
    assert result.exit_code == 2 and "decontam.benchmarks" in result.output, result.output
