"""One drawn answer, from raw text to verdict, and the choices made over a record's answers: which passing
answer is kept, and which failing one becomes the record's natural fault."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from codesft.evaluate.sanitize import extract_code
from codesft.faults.similarity import edit_similarity
from codesft.faults.spans import diff_spans
from codesft.pycode import parses
from codesft.schema import Fault

# Reasons an answer never reached the sandbox: not a mistake in the logic, so never a fault.
NOT_RUN = ("request_failed", "empty", "no_code", "syntax_error")
RESOLVE_INDEX = -1  # the index of the re-solve answer (the k self-samples are 0..k-1)


@dataclass
class Answer:
    """One answer of one record, generated and executed: one line of the work log."""
    sample_id: str
    index: int
    raw: str
    code: str
    status: str  # a sandbox status (passed, failed, timeout, memory, error) or one of NOT_RUN
    reason: str = ""
    mean_logprob: float | None = None
    n_tokens: int = 0  # generated tokens, as the engine counted them (throughput figures only)

    @property
    def key(self) -> str:
        return answer_key(self.sample_id, self.index)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def logic_failure(self) -> bool:
        """Ran in the sandbox and did not pass: a mistake the model really makes."""
        return self.status not in NOT_RUN and not self.passed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def answer_key(sample_id: str, index: int) -> str:
    return f"{sample_id}#{'resolve' if index == RESOLVE_INDEX else index}"


def close_fence(raw: str) -> str:
    """The answer with its last code block closed. Generation stops at the end of the first code block
    (`SampleConfig.stop`), and the stop string is not part of the text; a kept answer becomes a training turn,
    which must show the fence closed, as the model writes it when nothing stops it."""
    fences = sum(1 for ln in raw.splitlines() if ln.lstrip().startswith("```"))
    return raw.rstrip("\n") + "\n```" if fences % 2 else raw


def prepare_answer(sample_id: str, index: int, raw: str, error: str, entry_point: str | None,
                   mean_logprob: float | None, n_tokens: int = 0) -> tuple[Answer, bool]:
    """(answer, whether it must run in the sandbox). A failed request, an empty answer, one without code
    or with code that does not parse is decided here, with its reason, and never runs."""
    ans = Answer(sample_id=sample_id, index=index, raw=close_fence(raw), code="", status="",
                 mean_logprob=mean_logprob, n_tokens=n_tokens)
    if error:
        ans.status, ans.reason = "request_failed", error[:300]
    elif not raw.strip():
        ans.status, ans.reason = "empty", "empty answer"
    else:
        ans.code = extract_code(raw, entry_point)
        if not ans.code.strip():
            ans.status, ans.reason = "no_code", "no code in the answer"
        elif not parses(ans.code):
            ans.status, ans.reason = "syntax_error", "the extracted code does not parse"
    return ans, not ans.status


def _normalised(code: str) -> str:
    """Code compared for `most_frequent`: comments and blank lines dropped, whitespace runs collapsed."""
    lines = (re.sub(r"\s+", " ", re.sub(r"#.*", "", ln)).rstrip() for ln in code.splitlines())
    return "\n".join(ln for ln in lines if ln.strip())


def rank(passing: list[Answer], rule: str) -> list[Answer]:
    """Passing answers, best first by the selection rule. Every rule breaks ties by shortest code, then
    index, so the order does not depend on the order answers arrived in."""
    def shortest(a: Answer) -> tuple[int, int]:
        return (len(a.code.strip()), a.index)

    if rule == "most_frequent":
        counts: dict[str, int] = {}
        for a in passing:
            counts[_normalised(a.code)] = counts.get(_normalised(a.code), 0) + 1
        return sorted(passing, key=lambda a: (-counts[_normalised(a.code)], *shortest(a)))
    if rule == "logprob":
        return sorted(passing, key=lambda a: (-(a.mean_logprob if a.mean_logprob is not None else float("-inf")),
                                              *shortest(a)))
    return sorted(passing, key=shortest)


def distinct(ranked: list[Answer]) -> list[Answer]:
    """The first answer of each distinct code (after normalisation), in rank order."""
    seen: set[str] = set()
    out = []
    for a in ranked:
        if _normalised(a.code) not in seen:
            seen.add(_normalised(a.code))
            out.append(a)
    return out


def nearest_fault(kept_code: str, answers: list[Answer], tried: int) -> Fault | None:
    """The failing answer most similar to the kept code, as a verified `Fault` with its spans (None when no
    answer failed on its logic, or every failing one equals the kept code)."""
    kept = kept_code.strip()
    failing = [a for a in answers if a.logic_failure and a.code.strip() != kept]
    if not failing:
        return None
    scored = [(edit_similarity(kept_code, a.code), a) for a in failing]
    score, best = max(scored, key=lambda t: (t[0], -t[1].index))  # ties: the earlier answer
    correct_spans, incorrect_spans = diff_spans(kept_code, best.code)
    return Fault(incorrect=best.code, generator="self", operator=f"answer:{best.index}", similarity=round(score, 6),
                 similarity_method="edit", verified_failing=True,
                 verification=f"{best.status}: {best.reason}"[:300], correct_spans=correct_spans,
                 incorrect_spans=incorrect_spans, candidates_tried=tried)


def answer_text(raw: str, code: str) -> str:
    """The assistant turn for a kept answer: the model's own answer when it holds the code as run (so the
    DPO pair can swap it), else the code in one fence."""
    return raw if code.strip() and code.strip() in raw else f"```python\n{code.rstrip()}\n```"
