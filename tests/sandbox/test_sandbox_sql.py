"""SQL programs in the sandbox: the query's rows against the expected ones, on an in-memory SQLite database
inside the same isolated child as any program."""

import json

import pytest
from pydantic import ValidationError

from codesft.sandbox import Program
from codesft.sandbox.sql import compare_rows, split_statements
from codesft.schema import SqlExpectation

SCHEMA = ("CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, dept TEXT, salary REAL);\n"
          "INSERT INTO emp VALUES (1, 'ann', 'eng', 100.5), (2, 'bob', 'eng', 90), (3, 'cy', 'ops', 70), (4, 'di', 'ops', 70);\n")


def expect(rows, order, columns=None) -> str:
    return SqlExpectation(rows=rows, order=order, columns=columns).to_tests()


def sql(pid: str, code: str, test: str | None, setup: str | None = SCHEMA) -> Program:
    return Program(id=pid, language="sql", setup=setup, code=code, test=test)


def test_verdicts(run_prog):
    res = run_prog(
        sql("ordered", "SELECT dept, AVG(salary) FROM emp GROUP BY dept ORDER BY dept;",
            expect([["eng", 95.25], ["ops", 70]], "ordered")),
        sql("as_set", "SELECT name FROM emp WHERE salary < 95", expect([["di"], ["bob"], ["cy"]], "unordered")),
        sql("duplicates_count", "SELECT salary FROM emp WHERE dept = 'ops'", expect([[70]], "unordered")),
        sql("wrong_rows", "SELECT name FROM emp WHERE salary > 80", expect([["ann"]], "unordered")),
        sql("wrong_order", "SELECT name FROM emp ORDER BY name DESC", expect([["ann"], ["bob"], ["cy"], ["di"]], "ordered")),
        sql("wrong_value", "SELECT name, salary FROM emp WHERE id = 1", expect([["ann", 100.4]], "ordered")),
        sql("syntax", "SELEC name FROM emp", expect([], "unordered")),
        sql("columns", "SELECT name AS n FROM emp WHERE id = 1", expect([["ann"]], "ordered", ["name"])),
        sql("statements", "CREATE VIEW eng AS SELECT name FROM emp WHERE dept = 'eng'; -- a view; then the query\n"
                          "SELECT name, 'a;b' AS s FROM eng ORDER BY name;",
            expect([["ann", "a;b"], ["bob", "a;b"]], "ordered", ["name", "s"])),
        sql("no_result_set", "UPDATE emp SET salary = 0", expect([], "ordered")),
        sql("bad_expectation", "SELECT 1", '{"rows": "not rows"}'),
        sql("script_only", "SELECT count(*) FROM emp;", None),
        sql("bad_setup", "SELECT 1", expect([[1]], "ordered"), setup="CREATE TABLE broken ("),
    )
    assert res["ordered"].status == "passed", res["ordered"]
    assert json.loads(res["ordered"].stdout) == {"columns": ["dept", "AVG(salary)"], "rows": [["eng", 95.25], ["ops", 70.0]]}
    assert res["as_set"].status == "passed"
    dup = res["duplicates_count"]
    assert dup.status == "failed" and "expected 1 rows, got 2" in dup.reason and "1 unexpected, e.g. [70.0]" in dup.reason
    assert res["wrong_rows"].status == "failed" and 'unexpected, e.g. ["bob"]' in res["wrong_rows"].reason
    assert res["wrong_order"].status == "failed" and "the right rows in the wrong order" in res["wrong_order"].reason
    assert res["wrong_value"].status == "failed" and "row 0 differs" in res["wrong_value"].reason
    assert res["syntax"].status == "failed" and res["syntax"].reason.startswith("code: OperationalError")
    assert "syntax error" in res["syntax"].reason
    assert res["columns"].status == "failed" and 'columns differ: expected ["name"], got ["n"]' in res["columns"].reason
    assert res["statements"].status == "passed", res["statements"]
    assert res["no_result_set"].status == "failed" and "no statement returned rows" in res["no_result_set"].reason
    assert res["bad_expectation"].status == "failed" and "not a SQL expectation" in res["bad_expectation"].reason
    assert res["script_only"].status == "passed" and json.loads(res["script_only"].stdout)["rows"] == [[4]]
    assert res["bad_setup"].status == "failed" and res["bad_setup"].reason.startswith("setup: ")


def test_limits_and_the_database_boundary(run_prog):
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n;"
    res = run_prog(
        sql("endless_cte", endless, expect([[1]], "ordered")),
        sql("huge_blob", "SELECT length(randomblob(900000000));", expect([[1]], "ordered")),
        sql("attach", "ATTACH DATABASE '/work/other.db' AS other; SELECT 1;", expect([[1]], "ordered")),
        sql("load_extension", "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libm.so.6');", expect([[1]], "ordered")),
        timeout_s=3.0, memory_mb=256,
    )
    assert res["endless_cte"].status == "timeout" and res["endless_cte"].runtime_s < 3.0 + 1.5
    assert res["huge_blob"].status == "memory", res["huge_blob"]
    assert res["attach"].status == "failed" and "too many attached databases" in res["attach"].reason
    assert res["load_extension"].status == "failed" and "not authorized" in res["load_extension"].reason


def test_a_sql_program_has_no_python_only_fields():
    with pytest.raises(ValidationError, match="a sql program has setup, code and test only, not entry_point, stdin"):
        Program(id="x", language="sql", code="SELECT 1", entry_point="f", stdin="x")


def test_compare_rows_semantics():
    exp = SqlExpectation(rows=[[1, "a", None], [2.5, "b", 0.1 + 0.2]], order="ordered")
    assert compare_rows(exp, ["k", "v", "n"], [(1.0, "a", None), (2.5, "b", 0.3)]) is None  # 1 == 1.0; 9 places
    assert compare_rows(exp, ["k", "v", "n"], [(1, "a", None), (2.5, "b", 0.31)]).startswith("row 1 differs")
    assert compare_rows(exp, ["k", "v", "n"], [(1, "1", None), (2.5, "b", 0.3)]).startswith("row 0 differs")  # text != number
    assert "expected 2 rows, got 1" in compare_rows(exp, ["k", "v", "n"], [(1, "a", None)])
    bag = SqlExpectation(rows=[["x"], ["x"], ["y"]], order="unordered")
    assert compare_rows(bag, ["c"], [("y",), ("x",), ("x",)]) is None
    assert "1 missing" in compare_rows(bag, ["c"], [("y",), ("x",)])
    assert compare_rows(bag, None, []).startswith("no statement returned rows")


def test_split_statements_keeps_strings_comments_and_triggers_whole():
    script = ("CREATE TABLE t (v TEXT);\n"
              "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET v = v || ';'; END;\n"
              "INSERT INTO t VALUES ('a;b'); -- c;d\nSELECT v FROM t")
    parts = [p.strip() for p in split_statements(script)]
    assert len(parts) == 4, parts
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
    assert parts[2] == "INSERT INTO t VALUES ('a;b');"
    assert parts[3] == "-- c;d\nSELECT v FROM t"  # a `;` in a comment does not end the last statement
