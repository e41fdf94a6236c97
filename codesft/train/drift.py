"""Drift: how far a fine-tune moved from its base model, as the mean per-token KL(fine-tuned || base).

Measured generation-free on a fixed slice of held-out prompts: the first `n` HumanEval problems shipped in
`codesft/data/benchmarks` (task ids HumanEval/0 .. n-1), each rendered with the chat template as training
renders a record: the instruction as the user turn and the benchmark's canonical solution as the assistant
turn. Each model runs one forward pass over each rendered text; the KL is averaged over the assistant
positions, where the model writes code: that is where a fine-tune changes the model and where forgetting
shows. The canonical answer (not either model's own output) keeps the figure free of sampling and the same
text for every fine-tune of a base, so two runs' figures compare.

Direction KL(fine-tuned || base): the expectation is under the fine-tuned model, i.e. over what it would
write, and it grows when the fine-tune puts mass where the base put little (the KL-to-reference direction of
PPO and DPO).

With LoRA the base is the same model with the adapter disabled (peft `disable_adapter()`), no second copy;
a full fine-tune loads the base once more for the measurement.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from codesft.assets import package_data
from codesft.train.data import overlap_mask, render, tokenize
from codesft.train.losses import mean_token_kl

PROMPT_FILE = "benchmarks/HumanEval.jsonl.gz"
DIRECTION = "KL(fine-tuned || base)"


@dataclass(frozen=True)
class DriftPrompt:
    task_id: str
    messages: list[dict[str, str]]


@dataclass(frozen=True)
class Drift:
    kl_mean: float
    prompts: int  # the prompts measured: those whose answer starts within max_length
    tokens: int
    direction: str
    prompt_set_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_prompts(n: int) -> list[DriftPrompt]:
    """The first `n` HumanEval problems as (instruction, canonical solution) conversations."""
    raw = package_data(PROMPT_FILE).read_bytes()
    rows = [json.loads(line) for line in gzip.decompress(raw).decode("utf-8").splitlines() if line.strip()]
    out = []
    for r in rows[:n]:
        code = r["prompt"] + r["canonical_solution"]
        user = ("Complete the following Python function. Return the whole function, with its imports, "
                f"in one ```python code block.\n\n```python\n{r['prompt'].strip()}\n```")
        out.append(DriftPrompt(r["task_id"], [{"role": "user", "content": user},
                                              {"role": "assistant", "content": f"```python\n{code}```"}]))
    return out


def prompt_set_sha256(prompts: list[DriftPrompt]) -> str:
    blob = json.dumps([[p.task_id, p.messages] for p in prompts], sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _encode(tokenizer: Any, prompt: DriftPrompt, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and a 0/1 mask of the positions whose next token is an assistant token."""
    text, spans = render(tokenizer, prompt.messages)
    ids, offsets = tokenize(tokenizer, text, max_length)
    answer = overlap_mask(offsets, spans)
    return ids, answer[1:] + [0]  # the logits at t predict token t+1


@contextlib.contextmanager
def _base_of(model: Any, base: Any | None) -> Iterator[Any]:
    """The base model: `base` when given, else `model` with its LoRA adapter disabled."""
    if base is not None:
        yield base
        return
    if not hasattr(model, "disable_adapter"):
        raise ValueError("drift: a full fine-tune needs the base model passed as `base`")
    with model.disable_adapter():
        yield model


def measure_drift(model: Any, tokenizer: Any, n_prompts: int, max_length: int, base: Any | None = None) -> Drift:
    """Mean per-token KL(model || base) over the first `n_prompts` drift prompts (see the module doc)."""
    import torch

    prompts = drift_prompts(n_prompts)
    device = next(model.parameters()).device
    total, tokens, used = 0.0, 0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for p in prompts:
                ids, mask = _encode(tokenizer, p, max_length)
                count = sum(mask)
                if count == 0:  # the answer was cut by max_length: nothing to compare
                    continue
                # Logits only from the first answer position on: the head over the prompt would be thrown away
                # (with a 150k-token vocabulary it is most of the memory of the pass).
                keep = len(ids) - mask.index(1)
                x = torch.tensor([ids], device=device)
                logits_p = model(input_ids=x, logits_to_keep=keep).logits
                with _base_of(model, base) as ref:
                    logits_q = ref(input_ids=x.to(next(ref.parameters()).device), logits_to_keep=keep).logits
                kl = mean_token_kl(logits_p, logits_q.to(device), torch.tensor([mask[-keep:]], device=device))
                total += float(kl) * count
                tokens, used = tokens + count, used + 1
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError(f"drift: no answer token within max_length={max_length} in {len(prompts)} prompts")
    return Drift(total / tokens, used, tokens, DIRECTION, prompt_set_sha256(prompts))
