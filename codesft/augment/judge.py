"""Asking the teacher and judging what it wrote: one batch of records and one strategy, from the requests to a
status per candidate (kept, or the reason it is dropped), with the sandbox verdicts it rests on.

Per candidate, in order (the first check that fails names the drop):

- the request: a failed one is `teacher_request_failed`; a batch where every request failed, or a backend that
  returns no answer for a request, is the harness's fault and stops the run (RuntimeError), as in `sample`;
- the format (`parse.parse_answer`): `unparseable`;
- the function under test: defined by the solution (`entry_point_missing`), and named by the instruction (when
  the teacher left it out, codesft appends the solution's signature and records it in `checks`);
- evol / harder / easier: the solution passes its tests (`solution_fails_own_tests`), the parent's solution fails
  at least one of them (`tests_not_new`), and a second solution, drawn from the new instruction alone with
  another seed, passes them too (`not_self_consistent`);
- translate: the translated solution passes the translated tests (`translation_fails`).

Rephrase's near-duplicate check compares the candidates of a record with each other, so it is made when the
records are built (`pipeline`), from the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codesft.augment.config import NEW_TASK, AugmentConfig
from codesft.augment.parse import Unparseable, parse_answer
from codesft.augment.prompts import (
    evol_operation,
    rephrase_style,
    solve_messages,
    teacher_messages,
)
from codesft.augment.records import (
    KEPT,
    Attempt,
    attempt_key,
    candidate,
    defines,
    entry_point,
    instruction_of,
    language_of,
    names,
    signature,
)
from codesft.augment.work import AttemptLog
from codesft.pycode import parses
from codesft.sandbox.programs import program_for
from codesft.schema import Code, Sample

Log = Callable[[str], None]


def operation(strategy: str, parent: Sample, index: int, cfg: AugmentConfig) -> str:
    if strategy == "rephrase":
        return rephrase_style(index)
    if strategy == "evol":
        return evol_operation(parent.sample_id, index, list(cfg.evol_operations))
    return cfg.target_language if strategy == "translate" else strategy


def teacher_backend(cfg: AugmentConfig) -> Any:
    """The teacher, built by the backend factory every generating command shares. No stop sequences: the
    answer holds several sections and code blocks, and ends where the teacher ends it."""
    from codesft.evaluate.generation import build_backend

    return build_backend(cfg, stops=[], logprobs=False, batch_size=cfg.batch_size)


def _generate(backend: Any, requests: list[Any]) -> dict[str, Any]:
    """key -> Generation for every request; a backend that drops one, or fails every one of a batch, stops."""
    got = {g.key: g for gens in backend.generate(requests) for g in gens}
    missing = [r.key for r in requests if r.key not in got]
    if missing:
        raise RuntimeError(f"the teacher's backend returned no answer for {len(missing)} request(s), e.g. {missing[0]}")
    failed = [g for g in got.values() if g.error]
    if len(failed) == len(got) > 1:
        # One failed request is that candidate's outcome; every request failing is a server that is down, and
        # recording it would drop every candidate for a reason that is not theirs.
        raise RuntimeError(f"every teacher request of a batch failed ({len(failed)}), e.g. {failed[0].error}; "
                           "nothing of that batch was recorded, run again to resume")
    return got


def _check_text(a: Attempt, parent: Sample, cfg: AugmentConfig) -> None:
    """Format and function-name checks of one answer (no sandbox)."""
    ep = entry_point(parent) or ""
    language = language_of(a.strategy, cfg)
    try:
        parsed = parse_answer(a.raw, need_code=a.strategy != "rephrase", language=language)
    except Unparseable as exc:
        return a.drop("unparseable", str(exc))
    a.instruction, a.solution, a.tests = parsed.instruction, parsed.solution, parsed.tests
    if a.strategy == "rephrase":
        # Required when the original names it: a paraphrase that loses the name asks for another function.
        if names(instruction_of(parent), ep) and not names(a.instruction, ep):
            a.drop("entry_point_missing", f"the paraphrase does not name `{ep}`")
        return None
    if not defines(a.solution, ep, language):
        return a.drop("entry_point_missing", f"the new solution does not define `{ep}`")
    if not names(a.instruction, ep):
        # Teachers often leave the name out of the prose and give it in the solution and tests only (the offline
        # 1.5B did for most new tasks). The name is part of the task, so codesft states it once, from the
        # solution's own signature, and records that it did; a solution that defines no such function is dropped.
        a.instruction = f"{a.instruction.rstrip()}\n\nWrite it as the function `{signature(a.solution, ep, language)}`."
        a.checks["instruction_names_function"] = "added from the solution's signature"
    return None


class Judge:
    """Fills the work log, one batch of records and one strategy at a time."""

    def __init__(self, cfg: AugmentConfig, work: AttemptLog, pool: Any, parent_bundle: str, log: Log) -> None:
        self.cfg, self.work, self.pool, self.parent_bundle, self.log = cfg, work, pool, parent_bundle, log
        self.backend: Any = None  # built on first need: a fully resumed run loads no model

    def close(self) -> None:
        """Stop the teacher (the managed llama.cpp server) if it was started."""
        if self.backend is not None and hasattr(self.backend, "close"):
            self.backend.close()

    def _teacher(self, requests: list[Any]) -> dict[str, Any]:
        if self.backend is None:
            self.backend = teacher_backend(self.cfg)
        return _generate(self.backend, requests)

    def _run(self, programs: list[Any]) -> dict[str, Any]:
        return {r.id: r for r in self.pool.imap(programs)}

    def batch(self, strategy: str, parents: list[Sample]) -> None:
        from codesft.evaluate.backends import GenRequest

        cfg = self.cfg
        todo = [(p, i) for p in parents for i in range(cfg.n) if attempt_key(p.sample_id, strategy, i) not in self.work.attempts]
        if not todo:
            return
        by_key = {attempt_key(p.sample_id, strategy, i): p for p, i in todo}
        attempts = {attempt_key(p.sample_id, strategy, i): Attempt(p.sample_id, strategy, i, operation(strategy, p, i, cfg),
                                                                   cfg.seed + i) for p, i in todo}
        requests = [GenRequest(key=k, seed=a.seed, messages=teacher_messages(
            strategy, a.operation, instruction_of(p), p.code.solution or "", p.code.tests or "", entry_point(p) or "",
            cfg.target_language)) for k, a in attempts.items() for p in [by_key[k]]]
        for key, g in self._teacher(requests).items():
            a = attempts[key]
            a.raw = g.text
            if g.error:
                a.drop("teacher_request_failed", g.error)
            else:
                _check_text(a, by_key[key], cfg)
        if strategy != "rephrase":
            self._sandbox(strategy, [a for a in attempts.values() if not a.status], by_key)
        if strategy in NEW_TASK:
            self._second(GenRequest, [a for a in attempts.values() if not a.status], by_key)
        for a in attempts.values():
            if not a.status:
                a.status = KEPT
        self.work.add([attempts[k] for k in sorted(attempts)])
        kept = sum(a.status == KEPT for a in attempts.values())
        self.log(f"augment {strategy}: {len(attempts)} candidates judged, {kept} pass the checks")

    def _child(self, a: Attempt, parent: Sample) -> Sample:
        return candidate(parent, a, self.cfg, self.parent_bundle)

    def _sandbox(self, strategy: str, live: list[Attempt], parents: dict[str, Sample]) -> None:
        """The new solution under the new tests; for a new task, the parent's solution under them too."""
        programs = []
        for a in live:
            child = self._child(a, parents[a.key])
            programs.append(program_for(child, a.solution, id=f"{a.key}#own_tests"))
            if strategy in NEW_TASK:
                programs.append(program_for(child, parents[a.key].code.solution or "", id=f"{a.key}#original_solution"))
        results = self._run(programs)
        for a in live:
            own = results[f"{a.key}#own_tests"]
            a.checks["own_tests"] = own.status
            if not own.passed:
                code = "translation_fails" if strategy == "translate" else "solution_fails_own_tests"
                a.drop(code, f"{own.status}: {own.reason}")
                continue
            if strategy in NEW_TASK:
                original = results[f"{a.key}#original_solution"]
                a.checks["original_solution"] = original.status
                if original.passed:
                    a.drop("tests_not_new", "the original solution passes every new test")

    def _second(self, request: Any, live: list[Attempt], parents: dict[str, Sample]) -> None:
        """Self-consistency: another solution from the new instruction alone must pass the same tests."""
        from codesft.evaluate.sanitize import extract_code

        if not live:
            return
        eps = {a.key: entry_point(parents[a.key]) or "" for a in live}
        gens = self._teacher([request(key=a.key, seed=self.cfg.seed + self.cfg.n + a.index,
                                      messages=solve_messages(a.instruction, eps[a.key])) for a in live])
        programs = []
        for a in live:
            g = gens[a.key]
            a.second_raw = g.text
            code = "" if g.error else extract_code(g.text, eps[a.key])
            if g.error:
                a.drop("teacher_request_failed", f"second solution: {g.error}")
            elif not code.strip() or not parses(code):
                a.checks["second_solution"] = "no_code"
                a.drop("not_self_consistent", "the second answer holds no code that parses")
            else:
                programs.append(program_for(self._child(a, parents[a.key]), code, id=f"{a.key}#second_solution"))
        results = self._run(programs)
        for a in live:
            r = results.get(f"{a.key}#second_solution")
            if r is None:
                continue
            a.checks["second_solution"] = r.status
            if not r.passed:
                a.drop("not_self_consistent", f"second solution {r.status}: {r.reason}")


# A program in the target language that must pass, and one that must fail, before a translation is judged:
# a sandbox that cannot run the language would fail every translation, and every drop would be its fault.
JS_CANARY = ("function add(a, b) {\n  return a + b;\n}\n",
             "function add(a, b) {\n  return a - b;\n}\n",
             "const assert = require('node:assert');\nassert.strictEqual(add(2, 3), 5);\n")


def check_language(pool: Any, language: str) -> None:
    """Raise HarnessFault unless the sandbox passes a right program and fails a wrong one in `language`."""
    from codesft.evaluate.canary import HarnessFault
    from codesft.schema import Provenance, Source

    good, bad, tests = JS_CANARY
    probe = Sample(sample_id="canary", source=Source(kind="eval_question", group_key="canary"),
                   provenance=Provenance(content_hash="canary", source_path="canary"),
                   code=Code(language=language, solution=good, tests=tests, entry_point="add"))
    try:
        programs = [program_for(probe, good, id="good"), program_for(probe, bad, id="bad")]
    except ValueError as exc:
        raise HarnessFault(f"the sandbox cannot run {language}: {exc}") from None
    results = {r.id: r for r in pool.imap(programs)}
    if getattr(programs[0], "language", "python") != language or not results["good"].passed or results["bad"].passed:
        raise HarnessFault(f"the sandbox cannot run {language} (canary: a right program {results['good'].status}, "
                           f"a wrong one {results['bad'].status}: {results['good'].reason[:200]}); "
                           "translate needs a sandbox that runs it")
