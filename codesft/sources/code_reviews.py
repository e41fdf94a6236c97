"""code_reviews: a review of problematic code and its fix -> a code-repair sample.

Fields: code (or problematic_code), comments (list or string), fixed_code, explanation?, severity?,
issue_type?, cwe?, tests? (string or list of strings), entry_point?, language?, id? (or review_id),
group?, iterations?, license?; for language sql also schema?, seed?, and tests = {rows, order, columns?}
(`base.language_parts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from codesft.schema import Code, Message, Sample
from codesft.sources.base import (ReadError, RecordError, Where, build_sample, fenced, language_parts, optional,
                                  read_json_source, record_id, require, str_list)

KIND = "code_review"


def map_record(obj: dict[str, Any], at: Where, raw: str) -> Sample:
    before = obj.get("code", obj.get("problematic_code"))
    if not isinstance(before, str) or not before.strip():
        raise RecordError("missing field 'code' (the problematic code)")
    fixed = require(obj, "fixed_code")
    language = optional(obj, "language", default="python")
    comments = str_list(obj, "comments") or str_list(obj, "review_comments")
    if not comments:
        raise RecordError("missing field 'comments' (the review comments)")
    severity = optional(obj, "severity")
    issue_type = optional(obj, "issue_type")
    cwe = obj.get("cwe")
    cwe = f"CWE-{cwe}" if isinstance(cwe, int) else cwe
    user = (f"Review the following {language} code and fix the problems the reviewers found.\n\n"
            f"{fenced(before, language)}\n\nReview comments:\n" + "\n".join(f"- {c}" for c in comments))
    explanation = optional(obj, "explanation", default="")
    answer = (explanation.strip() + "\n\n" if explanation else "") + fenced(fixed, language)
    parts = language_parts(obj, language)  # the language's shape of setup and tests (sql: schema, seed, rows)
    if parts.context:
        user += f"\n\nSchema:\n{fenced(parts.context, 'sql')}"
    tests = parts.tests
    tags = [t for t in (severity and f"severity:{severity}", issue_type and f"issue:{issue_type}",
                        cwe and str(cwe)) if t] + str_list(obj, "tags")
    rid = record_id(obj, "id", "review_id")
    group = optional(obj, "group") or rid
    return build_sample(
        kind=KIND, at=at, raw=raw, record_id=rid, group_key=f"{KIND}:{group}" if group else None,
        messages=[Message(role="user", content=user), Message(role="assistant", content=answer)],
        code=Code(language=language, solution=fixed, before=before, tests=tests or None,
                  entry_point=optional(obj, "entry_point"), setup=parts.setup),
        metadata={"category": "review_repair", "language": language, "difficulty": optional(obj, "difficulty"),
                  "domain": optional(obj, "domain"), "tags": tags},
        iterations=int(optional(obj, "iterations", (int,), default=1)),
        license=optional(obj, "license"),
    )


def read(path: str | Path, **_: Any) -> Iterator[Sample | ReadError]:
    yield from read_json_source(path, map_record)
