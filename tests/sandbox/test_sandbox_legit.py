"""Legitimate programs must still work inside the sandbox, and the API's features behave as documented."""

import gzip
import json
from pathlib import Path

from codesft.sandbox import Program, run

HUMANEVAL = Path(__file__).resolve().parents[2] / "codesft" / "data" / "benchmarks" / "HumanEval.jsonl.gz"


def test_legit_programs_pass(run_prog):
    programs = [
        Program(id="threads", code="import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(16)]\n"
                                   "[t.start() for t in ts]; [t.join() for t in ts]\nassert sorted(out) == list(range(16))\n"),
        Program(id="subprocess", code="import subprocess, sys\nr = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True)\n"
                                      "assert r.stdout.strip() == '42', r\n"),
        Program(id="multiprocessing", code="import multiprocessing as mp\nif __name__ == '__main__':\n"
                                           "    with mp.get_context('fork').Pool(2) as p:\n        assert p.map(abs, [-1, -2]) == [1, 2]\n"),
        Program(id="tempfiles", code="import tempfile, os\nwith tempfile.NamedTemporaryFile('w+', delete=False) as f:\n    f.write('hi')\n"
                                     "assert open(f.name).read() == 'hi'\nos.remove(f.name)\n"),
        Program(id="workdir_files", code="open('data.txt', 'w').write('1\\n2\\n')\nassert sum(map(int, open('data.txt'))) == 3\n"),
        Program(id="empty_stdin", code="import sys\nassert sys.stdin.read() == ''\n"),
        Program(id="recursion", code="import sys\nsys.setrecursionlimit(30000)\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
                                     "assert depth(20000) == 20000\n"),
        Program(id="megabyte_output", code="import sys\nsys.stdout.write('y' * 1_000_000)\n"),
        Program(id="script_exit0", code="import sys\nprint('bye')\nsys.exit(0)\n"),
    ]
    results = run_prog(*programs)
    for pid, result in results.items():
        assert result.status == "passed", (pid, result.reason, result.stderr[-2000:])
    assert len(results["megabyte_output"].stdout) == 1_000_000 and not results["megabyte_output"].stdout_truncated


def test_stdin_expected_stdout_and_per_test_outcomes(run_prog):
    echo = "print(sum(map(int, input().split())))"
    res = run_prog(
        Program(id="io_ok", code=echo, stdin="2 3\n", expected_stdout="5\n"),
        Program(id="io_bad", code=echo, stdin="2 3\n", expected_stdout="6"),
        Program(id="per_test", code="def sq(x):\n    return x * x if x != 3 else 0\n",
                tests=["assert sq(2) == 4", "assert sq(3) == 9", "assert sq(4) == 16"]),
    )
    assert res["io_ok"].status == "passed"
    assert res["io_bad"].status == "failed" and "expected_stdout" in res["io_bad"].reason
    per = res["per_test"]
    assert per.status == "failed"
    assert [t.passed for t in per.tests] == [True, False, True]
    assert "AssertionError" in per.tests[1].error


def test_runtime_error_reason_and_clean_traceback():
    res = run(Program(id="e", code="def f():\n    return 1 / 0\n", test="f()"))
    assert res.status == "failed" and "ZeroDivisionError" in res.reason
    assert "harness.py" not in res.stderr and "ZeroDivisionError" in res.stderr


def test_all_humaneval_canonical_solutions_pass(run_prog):
    problems = [json.loads(line) for line in gzip.open(HUMANEVAL, "rt")]
    programs = [Program(id=p["task_id"], code=p["prompt"] + p["canonical_solution"], test=p["test"],
                        entry_point=p["entry_point"]) for p in problems]
    results = run_prog(*programs)
    failed = {k: r.reason for k, r in results.items() if r.status != "passed"}
    assert len(results) == 164 and failed == {}
