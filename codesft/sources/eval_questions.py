"""eval_questions: problems with a reference solution and tests.

Three shapes are read as they are, detected per record:
- codesft: problem, requirements?, solution, tests, entry_point?, group?, difficulty?, tags?, language?
  (language sql: schema?, seed?, tests = {rows, order, columns?}; see `base.language_parts`)
- HumanEval: task_id, prompt, canonical_solution, test, entry_point
- MBPP: task_id, text, code, test_list, test_setup_code?
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from codesft.schema import Code, Message, Sample
from codesft.sources.base import (ReadError, RecordError, Where, build_sample, fenced, language_parts, optional,
                                  read_json_source, record_id, require, str_list)

KIND = "eval_question"


SUFFIXES = (".jsonl", ".json", ".jsonl.gz")  # what a directory input reads


def _humaneval(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    prompt = require(obj, "prompt")
    solution = prompt + require(obj, "canonical_solution")
    rid = record_id(obj, "task_id")
    task = rid or f"line{at.line}"
    user = f"Complete the following Python function.\n\n{fenced(prompt)}"
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{task}",
        messages=[Message(role="user", content=user), Message(role="assistant", content=fenced(solution))],
        code=Code(language="python", solution=solution, tests=require(obj, "test"),
                  entry_point=require(obj, "entry_point"), prompt=prompt),
        metadata={"category": "code_generation", "language": "python", "tags": ["humaneval_style"]},
    )


def _mbpp(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    text = require(obj, "text")
    tests = str_list(obj, "test_list")
    if not tests:
        raise RecordError("field 'test_list' must hold at least one test")
    rid = record_id(obj, "task_id")
    task = rid or f"line{at.line}"
    user = f"{text}\nYour code should pass these tests:\n\n" + "\n".join(tests)
    code = require(obj, "code").replace("\r\n", "\n")
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{task}",
        messages=[Message(role="user", content=user), Message(role="assistant", content=fenced(code))],
        code=Code(language="python", solution=code, tests="\n".join(tests),
                  setup=optional(obj, "test_setup_code") or None),
        metadata={"category": "code_generation", "language": "python", "tags": ["mbpp_style"]},
    )


def _native(obj: dict[str, Any], at: Where, raw: str) -> Sample:
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
    parts = language_parts(obj, language)  # the language's shape of setup and tests (sql: schema, seed, rows)
    if parts.context:
        user += f"\n\nSchema:\n{fenced(parts.context, 'sql')}"
    tests = parts.tests
    answer = fenced(solution, language)
    explanation = optional(obj, "explanation")
    if explanation:
        answer = f"{explanation}\n\n{answer}"
    rid = record_id(obj, "id", "task_id")
    group = optional(obj, "group") or rid
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{group}" if group else None,
        messages=[Message(role="user", content=user), Message(role="assistant", content=answer)],
        code=Code(language=language, solution=solution, tests=tests or None, entry_point=entry_point,
                  setup=parts.setup),
        metadata={"category": optional(obj, "category", default="code_generation"), "language": language,
                  "difficulty": optional(obj, "difficulty"), "tags": str_list(obj, "tags"),
                  "domain": optional(obj, "domain")},
        iterations=int(optional(obj, "iterations", (int,), default=1)),
        license=optional(obj, "license"),
    )


def map_record(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    if "canonical_solution" in obj:
        return _humaneval(obj, at, raw)
    if "test_list" in obj and "text" in obj:
        return _mbpp(obj, at, raw)
    return _native(obj, at, raw)


def read(path: str | Path, **_: Any) -> Iterator[Sample | ReadError]:
    yield from read_json_source(path, map_record, suffixes=SUFFIXES)
