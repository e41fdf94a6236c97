"""Rebuild codesft/data/tiny_tokenizer (used by `tiny:random` and the tests): a byte-level BPE tokenizer (the format of GPT-2/Qwen/Llama-3
tokenizers) trained on a few KB of Python and English, with a ChatML chat template whose assistant
turns are wrapped in {% generation %} markers. Small enough to ship; real enough to exercise
offsets, special tokens and template rendering. Run: python tests/assets/make_tiny_tokenizer.py
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}\n"
    "{% else %}{{ message['content'] }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def corpus() -> list[str]:
    import ast
    import difflib
    import json as json_mod
    import textwrap

    texts = [inspect.getsource(m) for m in (ast, difflib, json_mod, textwrap)]
    texts.append("Write a Python function that returns the sum of the even numbers in a list. "
                 "Here is the solution. The function checks each value and adds it to the total.")
    return texts


def build(out_dir: Path, vocab_size: int = 800) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHAT_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)


if __name__ == "__main__":
    target = Path(__file__).resolve().parents[2] / "codesft" / "data" / "tiny_tokenizer"
    build(target)
    print(json.dumps(sorted(p.name for p in target.iterdir())))
