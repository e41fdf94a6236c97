"""Fixtures for the training tests: the shipped tiny byte-level BPE chat tokenizer, a tiny randomly
initialised Llama saved as a model directory (loaded through the same path as the CLI), and
hand-made samples with faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesft.faults.spans import diff_spans
from codesft.schema import Code, Fault, Message, Provenance, Sample, Source, Split

from codesft.tiny_model import TOKENIZER_DIR

PAIRS = [
    ("Add two numbers.", "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"),
    ("Is n small?", "def small(n):\n    return n < 3\n", "def small(n):\n    return n <= 3\n"),
    ("Sum a list.", "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
     "def total(xs):\n    s = 0\n    for x in xs:\n        s -= x\n    return s\n"),
    ("Last item.", "def last(xs):\n    return xs[len(xs) - 1]\n", "def last(xs):\n    return xs[len(xs)]\n"),
    ("Count evens.", "def evens(xs):\n    return sum(1 for x in xs if x % 2 == 0)\n",
     "def evens(xs):\n    return sum(1 for x in xs if x % 2 == 1)\n"),
    ("Maximum.", "def biggest(a, b):\n    if a > b:\n        return a\n    return b\n",
     "def biggest(a, b):\n    if a < b:\n        return a\n    return b\n"),
]


def make_sample(prompt: str, solution: str, incorrect: str | None = None, *, wrap: bool = True,
                sid: str | None = None) -> Sample:
    content = f"Here is the code:\n```python\n{solution}```" if wrap else solution
    fault = None
    if incorrect is not None:
        cs, ws = diff_spans(solution, incorrect)
        # Stands for a variant the faults stage saw fail the tests: training uses only those by default.
        fault = Fault(incorrect=incorrect, generator="mutation", operator="hand", similarity=0.9,
                      verified_failing=True, correct_spans=cs, incorrect_spans=ws)
    sid = sid or f"s{abs(hash((prompt, solution))) % 10**8}"
    return Sample(
        sample_id=sid, source=Source(kind="eval_question", group_key=sid),
        messages=[Message(role="system", content="You write Python."), Message(role="user", content=prompt),
                  Message(role="assistant", content=content)],
        code=Code(solution=solution, tests="assert True\n"), fault=fault,
        provenance=Provenance(content_hash=sid, source_path="tests"),
        split=Split(assignment="train", seed=0, group_key=sid))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      bos_token_id=None, tie_word_embeddings=False)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture()
def pair_samples() -> list[Sample]:
    return [make_sample(p, c, w, sid=f"pair{i}") for i, (p, c, w) in enumerate(PAIRS)]


@pytest.fixture()
def pairs_jsonl(tmp_path, pair_samples) -> Path:
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(s.to_json() + "\n" for s in pair_samples))
    return path


@pytest.fixture()
def sample_factory():
    return make_sample
