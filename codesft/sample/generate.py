"""Drawing answers and judging them: the backend (the ones `eval run` uses), the prompts in the chat format
training uses, and one batch of answers from request to sandbox verdict."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from codesft.pairs import NotPaired, plain_messages
from codesft.sample.answers import RESOLVE_INDEX, Answer, answer_key, prepare_answer
from codesft.sample.config import SampleConfig
from codesft.sandbox.programs import program_for
from codesft.schema import Sample

RESOLVE_TEMPLATE = ("{task}\n\nA reference solution to this task follows. Write your own solution: it may differ "
                    "from the reference, and it must pass the same tests. Answer with one Python code block.\n\n"
                    "```python\n{reference}\n```")


def build_backend(cfg: SampleConfig) -> Any:
    """The backend the config names (shared with `eval run`); the caller closes it."""
    from codesft.evaluate.generation import build_backend as build

    return build(cfg, stops=list(cfg.stop), logprobs=cfg.logprobs or cfg.selection == "logprob",
                 batch_size=cfg.batch_size)


def engine_of(backend: Any, cfg: SampleConfig) -> str:
    """The engine recorded on every sampled record: a sample drawn by another engine is another policy
    (llama.cpp's quantized kernels and transformers' do not give the same answers for the same weights)."""
    prov = getattr(backend, "provenance", {}) or {}
    if prov.get("engine"):
        return f"{cfg.backend}: {prov['engine']} {prov.get('engine_version', '')}".strip()
    if cfg.backend == "transformers":
        import transformers

        return f"transformers {transformers.__version__}"
    return cfg.backend


def prompt_turns(s: Sample) -> list[dict[str, str]] | None:
    """The turns before the record's answer, as training renders them (None: not a plain chat)."""
    try:
        return plain_messages([m.model_dump() for m in s.messages])[:-1]
    except NotPaired:
        return None


def prompt_sha256(turns: list[dict[str, str]]) -> str:
    """Hash of what was sent: the prompt turns and the re-solve template."""
    blob = json.dumps({"turns": turns, "resolve_template": RESOLVE_TEMPLATE}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def resolve_turns(s: Sample, turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """The prompt with the reference in view, in the last user turn."""
    last = max(i for i, t in enumerate(turns) if t["role"] == "user")
    out = [dict(t) for t in turns]
    out[last]["content"] = RESOLVE_TEMPLATE.format(task=turns[last]["content"],
                                                   reference=(s.code.solution or "").rstrip())
    return out


def run_batch(jobs: list[tuple[Sample, int, list[dict[str, str]]]], backend: Any, cfg: SampleConfig,
              pool: Any) -> list[Answer]:
    """Generate one answer per job (record, index, turns), run those that hold code in the sandbox; every
    answer comes back with a status and its reason. A failed request or a crash never raises here."""
    from codesft.evaluate.backends import GenRequest

    by_key = {answer_key(s.sample_id, i): (s, i) for s, i, _ in jobs}
    reqs = [GenRequest(key=answer_key(s.sample_id, i), messages=t,
                       seed=cfg.seed + (cfg.k if i == RESOLVE_INDEX else i)) for s, i, t in jobs]
    answers: dict[str, Answer] = {}
    programs = []
    for gens in backend.generate(reqs):
        for g in gens:
            s, i = by_key[g.key]
            ans, runs = prepare_answer(s.sample_id, i, g.text, g.error, s.code.entry_point, g.mean_logprob,
                                       g.n_tokens)
            answers[g.key] = ans
            if runs:
                programs.append(program_for(s, ans.code, id=g.key))
    for r in pool.imap(programs):
        answers[r.id].status, answers[r.id].reason = r.status, (r.reason or "")[:300]
    missing = [k for k in by_key if k not in answers]
    if missing:  # a backend that drops a request is the harness's fault: stop rather than count it as a failure
        raise RuntimeError(f"the backend returned no answer for {len(missing)} request(s), e.g. {missing[0]}")
    failed = [a for a in answers.values() if a.status == "request_failed"]
    if len(failed) == len(answers) > 1:
        # One failed request is the answer's outcome; a batch where every request failed is a backend that is
        # down, and recording it would write pass rates of 0 that the model never earned.
        raise RuntimeError(f"every request of a batch failed ({len(failed)}), e.g. {failed[0].reason}; "
                           "nothing of that batch was recorded, run again to resume")
    return [answers[k] for k in sorted(answers)]
