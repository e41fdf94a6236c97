"""The JavaScript and SQL paths of the eval_questions and code_reviews readers, on their example assets and on
records that must be rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesft.schema import SqlExpectation
from codesft.sources import ReadError, read_source

LANGS = Path(__file__).resolve().parents[2] / "examples" / "assets" / "languages"


def _read(spec):
    recs = list(read_source(spec))
    return [r for r in recs if not isinstance(r, ReadError)], [r for r in recs if isinstance(r, ReadError)]


@pytest.mark.parametrize("spec,language,count", [
    ("eval_questions:eval_questions_javascript.jsonl", "javascript", 4),
    ("eval_questions:eval_questions_sql.jsonl", "sql", 3),
    ("code_reviews:code_reviews_javascript.jsonl", "javascript", 2),
    ("code_reviews:code_reviews_sql.jsonl", "sql", 2),
])
def test_language_assets_read(spec, language, count):
    kind, name = spec.split(":")
    samples, errors = _read(f"{kind}:{LANGS / name}")
    assert (len(samples), errors) == (count, [])
    for s in samples:
        assert s.code.language == s.metadata.language == language and s.code.solution and s.code.tests
        assert f"```{language}" in s.messages[1].content
        if kind == "code_reviews":
            assert s.code.before and s.metadata.category == "review_repair"


def test_a_sql_record_keeps_schema_seed_and_expected_rows():
    samples, _ = _read(f"eval_questions:{LANGS / 'eval_questions_sql.jsonl'}")
    s = next(x for x in samples if x.provenance.record_id == "sql-aggregates-001")
    assert s.code.setup.startswith("CREATE TABLE customers") and "INSERT INTO orders" in s.code.setup
    expected = SqlExpectation.model_validate_json(s.code.tests)
    assert expected.order == "ordered" and expected.columns == ["month", "revenue"]
    assert s.code.tests == expected.to_tests()  # canonical JSON: the same expectation, the same bytes
    user = s.messages[0].content
    assert "Schema:\n```sql\nCREATE TABLE customers" in user and "INSERT INTO" not in user  # seed rows stay hidden
    reviews, _ = _read(f"code_reviews:{LANGS / 'code_reviews_sql.jsonl'}")
    assert "COUNT(*)" in reviews[0].code.before and "COUNT(o.id)" in reviews[0].code.solution
    assert "Schema:" in reviews[0].messages[0].content


def test_bad_language_records_are_rejected_with_a_reason(tmp_path):
    base = {"problem": "p", "solution": "SELECT 1", "language": "sql"}
    rows = [
        {**base, "tests": {"rows": [[1]]}},                                   # no order
        {**base, "tests": {"rows": "x", "order": "ordered"}},                # rows not a list of rows
        {**base, "tests": "{not json"},                                      # JSON text that is not JSON
        {**base, "setup": "CREATE TABLE t (a);", "schema": "CREATE TABLE u (b);", "tests": {"rows": [], "order": "ordered"}},
        {"problem": "p", "solution": "x", "language": "javascript", "entry_point": "a.b", "tests": "check()"},
        {**base, "schema": ["CREATE TABLE t (a);"], "seed": "INSERT INTO t VALUES (1);",
         "tests": json.dumps({"rows": [[1]], "order": "unordered"})},     # fine: schema as a list, tests as JSON text
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples, errors = _read(f"eval_questions:{path}")
    reasons = {e.line: e.reason for e in errors}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert "field 'tests' of a sql record must be {rows, order, columns?}: order: Field required" in reasons[1]
    assert "rows" in reasons[2] and "must be {rows, order" in reasons[3]
    assert "either 'setup' or 'schema'/'seed'" in reasons[4]
    assert "must be a JavaScript identifier" in reasons[5]
    (ok,) = samples
    assert ok.code.setup == "CREATE TABLE t (a);\nINSERT INTO t VALUES (1);"
    assert ok.code.tests == '{"order":"unordered","rows":[[1]]}'
