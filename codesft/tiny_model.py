"""`tiny:random`: a tiny randomly initialised causal LM for smoke runs (`codesft run --preset tiny`).

A 2-layer Llama (hidden 64) over the shipped byte-level BPE tokenizer in `codesft/data/tiny_tokenizer`
(trained on a few KB of Python and English; ChatML template with `{% generation %}` markers). Built
once, seeded, and cached, so every smoke run exercises the real loading, templating, training and
generation code paths without downloading anything. Its outputs are noise: pass@1 is ~0 by design.
"""

from __future__ import annotations

from pathlib import Path

TINY_SOURCE = "tiny:random"
TOKENIZER_DIR = Path(__file__).parent / "data" / "tiny_tokenizer"


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                      tie_word_embeddings=False)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    LlamaForCausalLM(cfg).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out_dir)
    return out_dir


def resolve_run_model(source: str, seed: int = 0) -> str:
    """`tiny:random` -> a cached local directory; every other source is returned unchanged."""
    if source != TINY_SOURCE:
        return source
    from codesft.models import cache_dir

    out = cache_dir() / "models" / f"tiny-random-llama-seed{seed}"
    if not (out / "config.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        build_tiny_model(out, seed)
    return str(out)
