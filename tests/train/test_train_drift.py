"""Drift (docs/train.md, "Drift"): the KL function on hand-made tensors, and on the tiny model: 0 for an
untrained copy, growing with training, recorded in run.json."""

import copy
import json
import math

import pytest
import torch

from codesft.train import train
from codesft.train.drift import DIRECTION, drift_prompts, measure_drift
from codesft.train.losses import mean_token_kl


def _logits(*probs):
    return torch.log(torch.tensor([list(probs)], dtype=torch.float32))


def test_mean_token_kl_on_hand_made_distributions():
    # position 0: p = (1/2, 1/2), q = (1/4, 3/4); position 1 differs wildly but is masked out
    p = torch.stack([torch.tensor([[0.5, 0.5], [0.99, 0.01]]).log()])
    q = torch.stack([torch.tensor([[0.25, 0.75], [0.01, 0.99]]).log()])
    mask = torch.tensor([[1, 0]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert mean_token_kl(p, q, mask).item() == pytest.approx(expected, abs=1e-6)
    # the direction matters: KL(q || p) is another number
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert mean_token_kl(q, p, mask).item() == pytest.approx(reverse, abs=1e-6)
    # token-weighted mean over both positions; logits are shift-invariant (softmax)
    both = mean_token_kl(p + 3.0, q, torch.ones(1, 2))
    far = 0.99 * math.log(0.99 / 0.01) + 0.01 * math.log(0.01 / 0.99)
    assert both.item() == pytest.approx((expected + far) / 2, abs=1e-5)
    assert mean_token_kl(p, p.clone(), torch.ones(1, 2)).item() == pytest.approx(0.0, abs=1e-7)
    assert mean_token_kl(p, q, torch.zeros(1, 2)).item() == 0.0  # nothing masked: no divide by zero


def test_untrained_copy_and_fresh_lora_have_zero_drift(tiny_model_dir, tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    d = measure_drift(model, tokenizer, 8, 512, base=copy.deepcopy(model))
    assert d.kl_mean == pytest.approx(0.0, abs=1e-6) and d.prompts == 8 and d.tokens > 8 * 10
    cut = measure_drift(model, tokenizer, 8, 256, base=copy.deepcopy(model))  # prompts whose answer is cut off
    assert 0 < cut.prompts < 8 and cut.tokens < d.tokens and cut.prompt_set_sha256 == d.prompt_set_sha256
    assert d.direction == DIRECTION == "KL(fine-tuned || base)"
    # LoRA: the base is the same model with the adapter disabled; a new adapter (B = 0) changes nothing yet
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert measure_drift(lora, tokenizer, 8, 256).kl_mean == pytest.approx(0.0, abs=1e-6)


def test_drift_grows_with_training_and_is_in_run_json(tiny_model_dir, pairs_jsonl, tmp_path):
    def run(steps: int, **kw) -> dict:
        out = train(dict(model=str(tiny_model_dir), data=str(pairs_jsonl), output_dir=str(tmp_path / f"o{steps}"),
                         max_steps=steps, learning_rate=1e-2, batch_size=3, bf16=False, max_length=256,
                         tensorboard=False, drift_prompts=8, **kw))
        return json.loads((out / "run.json").read_text())["drift"]

    few, more = run(1), run(6)
    assert 0 < few["kl_mean"] < more["kl_mean"], (few, more)
    assert 0 < few["prompts"] <= 8 and few["direction"] == DIRECTION and few["tokens"] == more["tokens"]
    assert few["prompt_set_sha256"] == more["prompt_set_sha256"]
    lora = run(6, lora={"enabled": True, "r": 4, "alpha": 8})  # measured with the adapter disabled as its base
    assert lora["kl_mean"] > 0
    off = train(dict(model=str(tiny_model_dir), data=str(pairs_jsonl), output_dir=str(tmp_path / "off"),
                     max_steps=1, bf16=False, max_length=256, tensorboard=False, drift_prompts=0))
    assert json.loads((off / "run.json").read_text())["drift"] is None


def test_drift_prompts_are_a_fixed_humaneval_slice():
    prompts = drift_prompts(32)
    assert [p.task_id for p in prompts] == [f"HumanEval/{i}" for i in range(32)]
    assert [m["role"] for m in prompts[0].messages] == ["user", "assistant"]
