"""`codesft augment` end to end through the CLI, on a small bundle curated from the example assets, against a
fake teacher (a local OpenAI-compatible server with scripted answers, tests/augment/conftest.py). Every strategy
gets right answers, which are kept, and wrong ones, which must be dropped with the right reason."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle
from codesft.cli import app
from codesft.sandbox import program_for, run_many

ASSETS = Path(__file__).resolve().parents[2] / "codesft" / "data" / "examples" / "assets"
with gzip.open(ASSETS.parent.parent / "benchmarks" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as _fh:
    _HE0 = json.loads(_fh.readline())


def answer(instruction: str, solution: str | None = None, tests: str | None = None, fence: str = "python") -> str:
    """A teacher's answer in the documented format, with a chatty preamble the parser skips."""
    text = f"Sure, here it is.\n\n### Instruction\n{instruction}\n"
    if solution is not None:
        text += f"\n### Solution\n```{fence}\n{solution}```\n"
    if tests is not None:
        text += f"\n### Tests\n```{fence}\n{tests}```\n"
    return text


def fenced(code: str) -> str:
    return f"Here you go:\n\n```python\n{code}```\n"


def _args(bundle: Path, url: str, out: Path, *extra: str) -> list[str]:
    return ["augment", str(bundle), "--teacher", "teacher", "--backend", "openai", "--base-url", url,
            "--out", str(out), "--max-retries", "0", *extra]


def _run(bundle: Path, url: str, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(app, _args(bundle, url, out, *extra))
    assert result.exit_code == 0, result.output
    return out / "b" / "v1.0.0+augment"


def _augmented(path: Path) -> list:
    return [s for s in load_bundle(path).samples() if s.augmentation is not None]


def _rejected(path: Path) -> dict[str, list[str]]:
    """Dropped candidates' reason codes, by strategy."""
    out: dict[str, list[str]] = {}
    for line in (path / "rejected.jsonl").read_text().splitlines():
        entry = json.loads(line)
        info = (entry.get("record") or {}).get("augmentation")
        if info:
            out.setdefault(info["strategy"], []).append(entry["reason"].split(":")[0])
    return {k: sorted(v) for k, v in out.items()}


def _digests(bundle: Path) -> dict[str, str]:
    return {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bundle.rglob("*")) if p.is_file()}


# ---- rephrase -----------------------------------------------------------------------------------------------

PARA = ("Given a string, decide whether it reads the same forwards and backwards once case is ignored and only "
        "letters and digits are kept. An empty string counts as a palindrome, and regular expressions are not "
        "allowed. Name the function `is_palindrome`.")
SECRET = "AKIAQWERTYUIOPASDFGH"  # an AWS access key id's shape: the redact rules must catch it
CHUNK_TASK = ("Write a function that splits a list into consecutive chunks of a given positive size; the last "
              "chunk may be shorter.\n\nImplement it as `chunk`.")
REPHRASE = [
    (("Rewrite the programming task", "palindrome"), lambda i: [
        ("ok", answer(PARA)),
        ("ok", answer("Check whether some text is a palindrome, ignoring case and anything that is not a letter "
                      f"or a digit; regular expressions are not allowed. (Deploy key: {SECRET})")),
        ("ok", answer(PARA.replace("Given a string", "Given some string"))),
    ][i]),
    (("Rewrite the programming task", "consecutive chunks"), lambda i: [
        ("ok", answer(CHUNK_TASK)),
        ("ok", f"I would split the list into pieces of the given size, the last one shorter. Key {SECRET}."),
        ("http", 400),
    ][i]),
]


def test_rephrase_keeps_verified_paraphrases_and_drops_the_wrong_ones(bundle, teacher, tmp_path, bundle_file_text):
    srv = teacher(REPHRASE)
    new = _run(bundle, srv.url, tmp_path / "out", "--strategy", "rephrase", "--n", "3", "--limit", "2")
    parents = {s.sample_id: s for s in load_bundle(bundle).samples()}
    (kept,) = _augmented(new)
    parent = parents[kept.augmentation.parent_sample_id]
    # a paraphrase of the instruction; the solution and tests stay
    assert kept.user_text() == PARA and kept.code == parent.code and kept.messages[-1] == parent.messages[-1]
    assert kept.quality.verification.status == "passed" and kept.quality.decision == "accepted"
    # a new record, in its parent's group and split, with its lineage
    assert kept.sample_id not in parents and kept.source.group_key == parent.source.group_key
    assert kept.split == parent.split and kept.provenance.lineage[-2:] == ["b@1.0.0", parent.sample_id]
    info = kept.augmentation
    assert (info.strategy, info.operation, info.teacher, info.engine, info.seed) == ("rephrase", "plain", "teacher",
                                                                                     "openai", 0)
    assert len(info.prompt_template_sha256) == 64 and "augment:rephrase" in kept.metadata.tags
    # every wrong answer is dropped, with its reason, into rejected.jsonl
    assert _rejected(new) == {"rephrase": ["entry_point_missing", "near_duplicate_paraphrase",
                                           "near_duplicate_paraphrase", "teacher_request_failed", "unparseable"]}
    counts = json.loads((new / "manifest.json").read_text())["augment"]["strategies"]["rephrase"]
    assert counts["records"] == 2 and counts["candidates"] == 6 and counts["kept"] == 1
    assert counts["dropped"] == {"entry_point_missing": 1, "near_duplicate_paraphrase": 2,
                                 "teacher_request_failed": 1, "unparseable": 1}
    # the bundle's own records are all there, unchanged
    originals = [s for s in load_bundle(new).samples() if s.augmentation is None]
    assert [s.to_json() for s in originals] == [s.to_json() for s in load_bundle(bundle).samples()]
    # the teacher's text is redacted in rejected.jsonl too, whatever stage dropped it
    assert not [p for p in new.rglob("*") if p.is_file() and SECRET in bundle_file_text(p)]
    # the test split is never augmented: no request names its problem
    assert not any("flatten" in t for t in srv.texts())
    assert "augment" in (new / "report.html").read_text()


# ---- evol -------------------------------------------------------------------------------------------------

PAL_EVOL = ("Write `is_palindrome(text, extra='')` that returns True when `text` reads the same backwards, ignoring "
            "case, every character that is not a letter or a digit, and every character in `extra`.")
PAL_EVOL_SOLUTION = ("def is_palindrome(text: str, extra: str = '') -> bool:\n"
                     "    cleaned = [c.lower() for c in text if c.isalnum() and c not in extra]\n"
                     "    return cleaned == cleaned[::-1]\n")
PAL_EVOL_TESTS = ("assert is_palindrome('A man, a plan, a canal: Panama')\n"
                  "assert is_palindrome('abXba', extra='X')\nassert is_palindrome('abXyXba', extra='y')\n"
                  "assert not is_palindrome('abXbc', extra='X')\n")
PAL_SECOND = ("def is_palindrome(text, extra=''):\n"
              "    s = ''.join(ch.lower() for ch in text if ch.isalnum() and ch not in extra)\n"
              "    return s == s[::-1]\n")
PAL_ORIGINAL_TESTS = "assert is_palindrome('Never odd or even')\nassert not is_palindrome('ab')\n"
PAL_ORIGINAL = ("def is_palindrome(text: str) -> bool:\n    cleaned = [c.lower() for c in text if c.isalnum()]\n"
                "    return cleaned == cleaned[::-1]\n")
CHUNK_PAD = ("Write `chunk(items, size, pad=None)` that splits `items` into consecutive chunks of `size`; when `pad` "
             "is not None the last chunk is filled up to `size` with `pad`.")
CHUNK_PAD_OK = ("def chunk(items, size, pad=None):\n    if size <= 0:\n        raise ValueError(size)\n"
                "    out = [list(items[i:i + size]) for i in range(0, len(items), size)]\n"
                "    if pad is not None and out and len(out[-1]) < size:\n"
                "        out[-1] += [pad] * (size - len(out[-1]))\n    return out\n")
CHUNK_PAD_WRONG = ("def chunk(items, size, pad=None):\n"
                   "    return [list(items[i:i + size]) for i in range(0, len(items), size)]\n")
CHUNK_PAD_TESTS = ("assert chunk([1, 2, 3], 2) == [[1, 2], [3]]\nassert chunk([1, 2, 3], 2, pad=0) == [[1, 2], [3, 0]]\n"
                   "assert chunk([], 2, pad=0) == []\n")
MERGE_GAP = ("Write `merge_intervals(intervals, gap=0)` that merges closed (start, end) intervals that overlap or lie "
             "within `gap` of each other, and returns them sorted by start.")
MERGE_GAP_OK = ("def merge_intervals(intervals, gap=0):\n    merged = []\n    for start, end in sorted(intervals):\n"
                "        if merged and start <= merged[-1][1] + gap:\n"
                "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n        else:\n"
                "            merged.append((start, end))\n    return merged\n")
MERGE_GAP_TESTS = ("assert merge_intervals([(1, 3), (2, 6)]) == [(1, 6)]\n"
                   "assert merge_intervals([(1, 2), (4, 5)], gap=2) == [(1, 5)]\n"
                   "assert merge_intervals([(1, 2), (5, 6)], gap=2) == [(1, 2), (5, 6)]\n")
# A kept-looking candidate that carries HumanEval/0 (prompt and reference solution) verbatim: a memorised benchmark.
MERGE_CONTAMINATED = _HE0["prompt"] + _HE0["canonical_solution"] + "\n\n" + MERGE_GAP_OK

EVOL = [
    (("The original task:", "palindrome"), lambda i: [
        ("ok", answer(PAL_EVOL, PAL_EVOL_SOLUTION, PAL_EVOL_TESTS)),
        ("ok", answer("Write `is_palindrome(text)`: True for palindromes.", PAL_ORIGINAL, PAL_ORIGINAL_TESTS)),
    ][i]),
    (("The original task:", "consecutive chunks"), lambda i: [
        ("ok", answer(CHUNK_PAD, CHUNK_PAD_WRONG, CHUNK_PAD_TESTS)),
        ("ok", answer(CHUNK_PAD, CHUNK_PAD_OK, CHUNK_PAD_TESTS)),
    ][i]),
    (("The original task:", "overlapping closed intervals"), lambda i: [
        ("ok", answer(MERGE_GAP, MERGE_GAP_OK.replace("def merge_intervals", "def merge_ranges"), MERGE_GAP_TESTS)),
        ("ok", answer(MERGE_GAP, MERGE_CONTAMINATED, MERGE_GAP_TESTS)),
    ][i]),
    # self-consistency: the new task alone, solved again
    (("Write the Python function `is_palindrome`",), lambda i: ("ok", fenced(PAL_SECOND))),
    (("Write the Python function `chunk`",), lambda i: ("ok", fenced(CHUNK_PAD_WRONG))),
    (("Write the Python function `merge_intervals`",), lambda i: ("ok", fenced(MERGE_GAP_OK))),
]


def test_evol_keeps_only_new_tasks_the_sandbox_verifies_three_ways(bundle, teacher, tmp_path):
    srv = teacher(EVOL)
    new = _run(bundle, srv.url, tmp_path / "out", "--strategy", "evol", "--n", "2", "--limit", "3")
    (kept,) = _augmented(new)
    parent = next(s for s in load_bundle(bundle).samples() if s.sample_id == kept.augmentation.parent_sample_id)
    assert kept.user_text() == PAL_EVOL and kept.code.solution == PAL_EVOL_SOLUTION and kept.code.tests == PAL_EVOL_TESTS
    assert kept.augmentation.checks == {"own_tests": "passed", "original_solution": "failed",
                                        "second_solution": "passed"}
    assert kept.augmentation.operation in ("add_constraints", "deepen", "concretize", "increase_reasoning", "broaden")
    assert kept.metadata.difficulty is None and kept.fault is None and kept.sampling is None
    # the three rules, rechecked here: the new solution passes, the original fails, a second solution passes
    runs = {r.id: r.passed for r in run_many([program_for(kept, kept.code.solution, id="own"),
                                              program_for(kept, parent.code.solution, id="original"),
                                              program_for(kept, PAL_SECOND, id="second")])}
    assert runs == {"own": True, "original": False, "second": True}
    # the second solution was asked from the new instruction alone, with another seed
    solve = [c for c in srv.calls if "Write the Python function `is_palindrome`" in c["messages"][-1]["content"]]
    assert len(solve) == 1 and PAL_EVOL_SOLUTION not in json.dumps(solve[0]) and solve[0]["seed"] == 2
    assert _rejected(new) == {"evol": ["contaminated", "entry_point_missing", "not_self_consistent",
                                       "solution_fails_own_tests", "tests_not_new"]}
    # the gate's drop (a benchmark's text) holds nothing of the benchmark in the kept data
    assert "has_close_elements" not in (new / "samples.jsonl").read_text()
    counts = json.loads((new / "manifest.json").read_text())["augment"]
    assert counts["strategies"]["evol"]["kept"] == 1 and counts["dropped"] == 5


# ---- harder / easier, then the student's pass rate --------------------------------------------------------

PAL_HARDER = ("Write `is_palindrome(text)` that returns True when `text` becomes a palindrome after removing at most "
              "one character, ignoring case and every character that is not a letter or a digit.")
PAL_HARDER_OK = ("def is_palindrome(text: str) -> bool:\n    s = [c.lower() for c in text if c.isalnum()]\n\n"
                 "    def ok(i, j, skip):\n        while i < j:\n            if s[i] != s[j]:\n"
                 "                return skip and (ok(i + 1, j, False) or ok(i, j - 1, False))\n"
                 "            i, j = i + 1, j - 1\n        return True\n\n    return ok(0, len(s) - 1, True)\n")
PAL_HARDER_TESTS = ("assert is_palindrome('abca')\nassert is_palindrome('Race a car')\n"
                    "assert not is_palindrome('abcda')\nassert is_palindrome('')\n")
PAL_EASIER = "Write `is_palindrome(word)` that returns True when a lowercase word reads the same backwards."
HARDER = [
    (("Write a harder version", "palindrome"), lambda i: ("ok", answer(PAL_HARDER, PAL_HARDER_OK, PAL_HARDER_TESTS))),
    (("Write an easier version", "palindrome"), lambda i: (
        "ok", answer(PAL_EASIER, "def is_palindrome(word):\n    return word == word[::-1]\n",
                     "assert is_palindrome('level')\nassert not is_palindrome('word')\n"))),
    (("Write the Python function `is_palindrome`", "at most one"), lambda i: ("ok", fenced(PAL_HARDER_OK))),
]
# The student, for `codesft sample`: one right and one wrong answer to the harder task (the original's code).
STUDENT = [(("at most one",), lambda i: ("ok", fenced(PAL_HARDER_OK if i % 2 == 0 else PAL_ORIGINAL)))]


def test_harder_and_easier_record_the_target_and_sample_measures_it(bundle, teacher, tmp_path):
    srv = teacher(HARDER)
    new = _run(bundle, srv.url, tmp_path / "out", "--strategy", "harder,easier", "--n", "1", "--limit", "1")
    (harder,) = _augmented(new)
    assert harder.augmentation.difficulty_target == "harder" and harder.augmentation.parent_difficulty == "easy"
    assert harder.metadata.difficulty is None  # not measured yet
    # an easier variant the original solution already passes checks nothing new: dropped
    assert _rejected(new) == {"easier": ["tests_not_new"]}
    # measured: the student's pass rate on the new version (`codesft sample`), next to the target
    student = teacher(STUDENT)
    result = CliRunner().invoke(app, ["sample", str(new), "--model", "student", "--backend", "openai", "--base-url",
                                      student.url, "--k", "2", "--no-resolve", "--out", str(tmp_path / "out"),
                                      "--max-retries", "0"])
    assert result.exit_code == 0, result.output
    measured = next(s for s in load_bundle(tmp_path / "out" / "b" / "v1.0.0+augment+sample").samples()
                    if s.augmentation is not None)
    assert measured.augmentation.difficulty_target == "harder"
    assert measured.sampling.pass_rate == 0.5 and measured.metadata.difficulty == "medium"


# ---- translate --------------------------------------------------------------------------------------------

JS_OK = ("function is_palindrome(text) {\n  const cleaned = [...text].filter((c) => /[a-z0-9]/i.test(c))"
         ".map((c) => c.toLowerCase());\n  return cleaned.join('') === [...cleaned].reverse().join('');\n}\n")
JS_WRONG = "function is_palindrome(text) {\n  return text === [...text].reverse().join('');\n}\n"
JS_TESTS = ("const assert = require('node:assert');\n"
            "assert.strictEqual(is_palindrome('A man, a plan, a canal: Panama'), true);\n"
            "assert.strictEqual(is_palindrome('codesft'), false);\nassert.strictEqual(is_palindrome(''), true);\n")
JS_TASK = ("Write a JavaScript function `is_palindrome(text)` that returns true when a string is a palindrome, "
           "ignoring case and any character that is not a letter or a digit.")
TRANSLATE = [(("Translate this Python programming task", "palindrome"), lambda i: [
    ("ok", answer(JS_TASK, JS_OK, JS_TESTS, fence="javascript")),
    ("ok", answer(JS_TASK, JS_WRONG, JS_TESTS, fence="javascript")),
][i])]


def _sandbox_runs_javascript() -> bool:
    from codesft.augment.judge import check_language
    from codesft.evaluate.canary import HarnessFault
    from codesft.sandbox import SandboxPool
    from codesft.sandbox.types import Limits

    with SandboxPool(Limits(), 1) as pool:
        try:
            check_language(pool, "javascript")
        except HarnessFault:
            return False
    return True


def test_translate_keeps_a_translation_only_when_it_passes_its_translated_tests(bundle, teacher, tmp_path):
    if not _sandbox_runs_javascript():
        pytest.skip("the sandbox does not run javascript here (node, or the sandbox's javascript harness, missing)")
    srv = teacher(TRANSLATE)
    new = _run(bundle, srv.url, tmp_path / "out", "--strategy", "translate", "--n", "2", "--limit", "1")
    (kept,) = _augmented(new)
    assert kept.code.language == "javascript" and kept.metadata.language == "javascript"
    assert kept.code.solution == JS_OK and kept.code.tests == JS_TESTS and kept.user_text() == JS_TASK
    assert kept.augmentation.checks == {"own_tests": "passed"} and kept.augmentation.operation == "javascript"
    assert all(r.passed for r in run_many([program_for(kept, kept.code.solution)]))
    assert _rejected(new) == {"translate": ["translation_fails"]}


def test_a_sandbox_that_cannot_run_the_target_language_stops_translate(tmp_path):
    """Fail closed: a language the sandbox cannot run would fail every translation, and every drop would be
    the harness's fault, so the canary stops the run instead."""
    from codesft.augment.judge import check_language
    from codesft.evaluate.canary import HarnessFault
    from codesft.sandbox import SandboxPool
    from codesft.sandbox.types import Limits

    with SandboxPool(Limits(), 1) as pool, pytest.raises(HarnessFault, match="cannot run cobol"):
        check_language(pool, "cobol")


# ---- the harness: resume, a dead teacher, config ----------------------------------------------------------

def test_killed_run_resumes_to_the_same_bundle(bundle, teacher, tmp_path):
    srv = teacher(EVOL, stall="overlapping closed intervals")  # records in order: palindrome | chunk | merge
    args = _args(bundle, srv.url, tmp_path / "out", "--strategy", "evol", "--n", "2", "--limit", "3",
                 "--batch-size", "1")
    proc = subprocess.Popen([sys.executable, "-c", "from codesft.cli import main; main()", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = tmp_path / "out" / "b" / ".augment-v1.0.0+augment" / "attempts.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 4):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group: the CLI and its sandbox workers
    proc.wait()
    assert len(log.read_text().splitlines()) >= 4 and not (tmp_path / "out" / "b" / "v1.0.0+augment").exists()
    before = len(srv.calls)
    srv.release()
    resumed = _run(bundle, srv.url, tmp_path / "out", "--strategy", "evol", "--n", "2", "--limit", "3",
                   "--batch-size", "1")
    assert not any("palindrome" in t for t in srv.texts()[before:])  # judged before the kill: not asked again
    fresh = _run(bundle, teacher(EVOL).url, tmp_path / "fresh", "--strategy", "evol", "--n", "2", "--limit", "3",
                 "--batch-size", "1")
    assert _digests(resumed) == _digests(fresh)
    # other settings are refused, not mixed in
    other = CliRunner().invoke(app, _args(bundle, srv.url, tmp_path / "out", "--strategy", "evol", "--n", "3",
                                          "--limit", "3", "--batch-size", "1"))
    assert other.exit_code == 2 and "other settings (n)" in other.output


def test_a_teacher_that_is_down_stops_the_run_without_a_bundle(bundle, teacher, tmp_path):
    srv = teacher([])
    url = srv.url
    srv.stop()  # nothing listens there any more: every request fails
    result = CliRunner().invoke(app, _args(bundle, url, tmp_path / "out", "--strategy", "rephrase", "--limit", "2"))
    assert result.exit_code == 1 and "every teacher request of a batch failed" in result.output
    assert not (tmp_path / "out" / "b" / "v1.0.0+augment").exists()


@pytest.mark.parametrize("extra, message", [
    ([], "needs --strategy"),
    (["--strategy", "paraphrase"], "strategy"),
    (["--strategy", "rephrase", "--splits", "train,test"], "test split is never augmented"),
    (["--strategy", "rephrase", "--backend", "openai"], "needs --base-url"),
])
def test_bad_settings_are_refused(bundle, tmp_path, extra, message):
    result = CliRunner().invoke(app, ["augment", str(bundle), "--out", str(tmp_path), *extra])
    assert result.exit_code == 2 and message in result.output


def test_yaml_config_is_read(bundle, teacher, tmp_path):
    srv = teacher(REPHRASE)
    cfg = tmp_path / "augment.yaml"
    cfg.write_text(f"strategy: rephrase\nteacher: teacher\nbackend: openai\nbase_url: {srv.url}\nn: 3\nlimit: 1\n"
                   f"out: {tmp_path / 'out'}\nversion: 1.1.0\n")
    result = CliRunner().invoke(app, ["augment", str(bundle), "--config", str(cfg), "--max-retries", "0"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "b" / "v1.1.0" / "manifest.json").read_text())
    assert manifest["parent_version"] == "1.0.0" and manifest["config"]["augment"]["strategy"] == ["rephrase"]
    assert manifest["augment"]["strategies"]["rephrase"]["kept"] == 1
