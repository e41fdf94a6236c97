"""Gates that mean what they say, through `codesft curate`: repair pairs whose problematic code passes,
records nothing executed, and duplicates that differ only by comments.

One small input (two repair pairs, a verified question, its copy with a comment and a docstring added, and a
question without tests) is curated under each preset; the sandbox runs for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesft.bundle import load_bundle

SOLUTION = "def clamp(n, lo, hi):\n    if n < lo:\n        return lo\n    if n > hi:\n        return hi\n    return n\n"
COMMENTED = ('def clamp(n, lo, hi):\n    """Clamp n into [lo, hi]."""\n    # below the range\n    if n < lo:\n'
             "        return lo\n\n    if n > hi:  # above it\n        return hi\n    return n\n")
QUESTION = "Write a function that clamps n into the closed range [lo, hi]."
TESTS = ["assert clamp(5, 0, 3) == 3", "assert clamp(-1, 0, 3) == 0", "assert clamp(2, 0, 3) == 2"]

REVIEWS = [
    # The problematic code already passes the tests: no repair, whatever the review says.
    {"id": "CR-same", "group": "g1", "code": "def double(x):\n    return x + x\n",
     "comments": ["Prefer multiplication here, it reads better."], "fixed_code": "def double(x):\n    return 2 * x\n",
     "explanation": "Multiplication states the intent directly.", "tests": ["assert double(2) == 4"]},
    # A real repair: the problematic code fails the tests.
    {"id": "CR-real", "group": "g2", "code": "def average(values):\n    return sum(values) / len(values)\n",
     "comments": ["Crashes with ZeroDivisionError on an empty list; return 0.0 instead."],
     "fixed_code": "def average(values):\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n",
     "explanation": "Guard the empty case before dividing.", "tests": ["assert average([]) == 0.0"]},
]
QUESTIONS = [
    {"id": "q-orig", "group": "clamp", "problem": QUESTION, "solution": SOLUTION, "tests": TESTS},
    {"id": "q-copy", "group": "clamp-copy", "problem": QUESTION, "solution": COMMENTED, "tests": TESTS},
    {"id": "q-untested", "group": "words", "problem": "Write a function that counts the words in a sentence.",
     "solution": "def count_words(text):\n    return len(text.split())\n"},
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("gates")
    (d / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in REVIEWS))
    (d / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return [f"code_reviews:{d / 'reviews.jsonl'}", f"eval_questions:{d / 'questions.jsonl'}"]


def _curate(out: Path, inputs: list[str], *extra: str) -> dict[str, dict]:
    """Curate; {record id: {"decision", "reasons", "quality", ...}} for every record, kept or rejected."""
    from codesft.cli import app

    args = ["curate", "--out", str(out), "--name", "g", "--verify.timeout-s", "60", *extra]
    for spec in inputs:
        args += ["--input", spec]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out / "g" / "v1.0.0")
    out_records: dict[str, dict] = {}
    for s in bundle.samples():
        out_records[_rid(s.model_dump(mode="json"))] = {"decision": s.quality.decision, "reasons": s.quality.reasons,
                                                        "quality": s.quality, "reason": None}
    for r in bundle.rejected():
        rec = r["record"]
        out_records[_rid(rec)] = {"decision": "rejected", "reasons": r["reasons"], "reason": r["reason"],
                                  "quality": rec["quality"]}
    return out_records


def _rid(d: dict) -> str:
    path = d["provenance"]["source_path"]
    rows = REVIEWS if path.endswith("reviews.jsonl") else QUESTIONS
    return rows[d["provenance"]["line"] - 1]["id"]


def test_balanced_downgrades_unverified_and_non_repairs_and_drops_comment_copies(tmp_path, inputs):
    r = _curate(tmp_path, inputs)
    same = r["CR-same"]
    assert same["decision"] == "downgraded"
    assert [x.split(":")[0] for x in same["reasons"]] == ["before_passes"]
    assert same["quality"].verification.before_status == "passed"
    assert r["CR-real"]["decision"] == "accepted" and r["CR-real"]["quality"].verification.before_status == "failed"
    # Nothing executed it: no correctness credit, so its score is at most 60 (it was 0.75 * 40 + 60 = 90 before),
    # and a visible reason. The 85 floor is checked on what could be measured (56.43 / 0.6 = 94), not on 56.
    untested = r["q-untested"]
    assert untested["decision"] == "downgraded" and untested["reasons"] == ["unverified: no tests"]
    q = untested["quality"]
    assert q.dimensions["correctness"] == 0.0 and q.score < 60
    assert q.score == pytest.approx(25 * q.dimensions["completeness"] + 20 * q.dimensions["consistency"]
                                    + 15 * q.dimensions["safety"], abs=0.01)
    # The copy with a docstring, two comments and a blank line added is the same record.
    kept, dropped = ("q-orig", "q-copy") if r["q-copy"]["decision"] == "rejected" else ("q-copy", "q-orig")
    assert r[kept]["decision"] == "accepted"
    assert r[dropped]["decision"] == "rejected" and r[dropped]["reason"].startswith("exact_duplicate: of ")


def test_strict_rejects_them_and_experimental_accepts_unverified_with_a_warning(tmp_path, inputs):
    strict = _curate(tmp_path / "strict", inputs, "--gates", "strict")
    assert strict["CR-same"]["decision"] == "rejected"
    assert any(x.startswith("before_passes: ") for x in strict["CR-same"]["reasons"])  # with score_below_floor (92)
    assert strict["q-untested"]["decision"] == "rejected" and "unverified: no tests" in strict["q-untested"]["reasons"]
    assert strict["CR-real"]["decision"] == "accepted"
    loose = _curate(tmp_path / "exp", inputs, "--gates", "experimental")
    assert loose["q-untested"]["decision"] == "accepted"
    assert "gate: accepted although unverified: no tests" in loose["q-untested"]["quality"].warnings
    assert loose["CR-same"]["decision"] == "downgraded"


def test_gate_policies_override_the_preset(tmp_path, inputs):
    r = _curate(tmp_path, inputs, "--gate.unverified", "reject", "--gate.before-passes", "reject")
    assert r["q-untested"]["decision"] == "rejected" and r["q-untested"]["reason"] == "unverified: no tests"
    assert r["CR-same"]["decision"] == "rejected" and r["CR-same"]["reason"].startswith("before_passes: ")
    manifest = json.loads((tmp_path / "g" / "v1.0.0" / "manifest.json").read_text())
    assert manifest["config"]["gate"]["unverified"] == "reject"
    assert {"unverified", "before_passes"} <= set(manifest["counts"]["rejected_by_reason"])
