"""eval_questions: problems with a reference solution and tests.

Three shapes are read as they are, detected per record:
- codesft: problem, requirements?, solution, tests, entry_point?, group?, difficulty?, tags?, language?
- HumanEval: task_id, prompt, canonical_solution, test, entry_point
- MBPP: task_id, text, code, test_list, test_setup_code?
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from codesft.schema import Code, Message, Sample
from codesft.sources.base import (ReadError, RecordError, build_sample, fenced, optional, read_json_source,
                                  require, str_list)

KIND = "eval_question"


def _humaneval(obj: dict[str, Any], file: str, line: int, raw: str) -> Sample:
    prompt = require(obj, "prompt")
    solution = prompt + require(obj, "canonical_solution")
    task = str(obj.get("task_id") or f"line{line}")
    user = f"Complete the following Python function.\n\n{fenced(prompt)}"
    return build_sample(
        kind=KIND, file=file, line=line, raw=raw, group_key=f"{KIND}:{task}",
        messages=[Message(role="user", content=user), Message(role="assistant", content=fenced(solution))],
        code=Code(language="python", solution=solution, tests=require(obj, "test"),
                  entry_point=require(obj, "entry_point"), prompt=prompt),
        metadata={"category": "code_generation", "language": "python", "tags": ["humaneval_style"]},
    )


def _mbpp(obj: dict[str, Any], file: str, line: int, raw: str) -> Sample:
    text = require(obj, "text")
    tests = str_list(obj, "test_list")
    if not tests:
        raise RecordError("field 'test_list' must hold at least one test")
    task = str(obj.get("task_id") or f"line{line}")
    user = f"{text}\nYour code should pass these tests:\n\n" + "\n".join(tests)
    code = require(obj, "code").replace("\r\n", "\n")
    return build_sample(
        kind=KIND, file=file, line=line, raw=raw, group_key=f"{KIND}:{task}",
        messages=[Message(role="user", content=user), Message(role="assistant", content=fenced(code))],
        code=Code(language="python", solution=code, tests="\n".join(tests),
                  setup=optional(obj, "test_setup_code") or None),
        metadata={"category": "code_generation", "language": "python", "tags": ["mbpp_style"]},
    )


def _native(obj: dict[str, Any], file: str, line: int, raw: str) -> Sample:
    problem = require(obj, "problem")
    solution = require(obj, "solution")
    language = optional(obj, "language", default="python")
    requirements = str_list(obj, "requirements")
    user = problem
    if requirements:
        user += "\n\nRequirements:\n" + "\n".join(f"- {r}" for r in requirements)
    entry_point = optional(obj, "entry_point")
    if entry_point:
        user += f"\n\nImplement it as `{entry_point}`."
    tests = obj.get("tests")
    if isinstance(tests, list):
        tests = "\n".join(str(t) for t in tests)
    elif tests is not None and not isinstance(tests, str):
        raise RecordError("field 'tests' must be a string or a list of strings")
    answer = fenced(solution, language)
    explanation = optional(obj, "explanation")
    if explanation:
        answer = f"{explanation}\n\n{answer}"
    group = optional(obj, "group") or optional(obj, "id") or None
    return build_sample(
        kind=KIND, file=file, line=line, raw=raw, group_key=f"{KIND}:{group}" if group else None,
        messages=[Message(role="user", content=user), Message(role="assistant", content=answer)],
        code=Code(language=language, solution=solution, tests=tests or None, entry_point=entry_point,
                  setup=optional(obj, "setup")),
        metadata={"category": optional(obj, "category", default="code_generation"), "language": language,
                  "difficulty": optional(obj, "difficulty"), "tags": str_list(obj, "tags"),
                  "domain": optional(obj, "domain")},
        iterations=int(optional(obj, "iterations", (int,), default=1)),
        license=optional(obj, "license"),
    )


def map_record(obj: dict[str, Any], file: str, line: int, raw: str) -> Sample:
    if "canonical_solution" in obj:
        return _humaneval(obj, file, line, raw)
    if "test_list" in obj and "text" in obj:
        return _mbpp(obj, file, line, raw)
    return _native(obj, file, line, raw)


def read(path: str | Path, **_: Any) -> Iterator[Sample | ReadError]:
    yield from read_json_source(path, map_record, suffixes=(".jsonl", ".json", ".jsonl.gz"))
