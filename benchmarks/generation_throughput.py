"""Tokens/s of codesft's transformers backend vs a plain `model.generate` loop (one prompt at a time), on the
same prompts (HumanEval completion prompts) and the same model, greedy, same stop strings and token budget.

    python benchmarks/generation_throughput.py --model offline:qwen2.5-coder-0.5b-instruct --limit 8 \
        --max-new-tokens 128 --batch-size 8 --threads 2

Generated tokens are counted up to EOS (stop strings end generation in both). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="offline:qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--benchmark", default="humaneval")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="auto", help="auto = bf16 where the CPU has native bf16, else fp32")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from codesft.evaluate.backends import GenRequest, TransformersBackend
    from codesft.evaluate.config import COMPLETION_STOPS
    from codesft.evaluate.problems import load_benchmark
    from codesft.models import load_model_and_tokenizer

    prompts = [p.prompt for p in load_benchmark(args.benchmark).problems[: args.limit]]
    model, tok = load_model_and_tokenizer(args.model, dtype=args.dtype, padding_side="left")

    # Plain loop: what a user writes by hand.
    t0 = time.perf_counter()
    plain_tokens = 0
    eos = tok.eos_token_id
    for p in prompts:
        enc = tok(p, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False,
                                 stop_strings=COMPLETION_STOPS, tokenizer=tok, pad_token_id=tok.pad_token_id)
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        plain_tokens += new.index(eos) if eos in new else len(new)
    plain_s = time.perf_counter() - t0

    backend = TransformersBackend(model, tok, max_new_tokens=args.max_new_tokens, stops=COMPLETION_STOPS,
                                  batch_size=args.batch_size, logprobs=False)
    t0 = time.perf_counter()
    ours_tokens = 0
    for batch in backend.generate([GenRequest(key=str(i), prompt=p) for i, p in enumerate(prompts)]):
        ours_tokens += sum(g.n_tokens for g in batch)
        assert not any(g.error for g in batch), [g.error for g in batch]
    ours_s = time.perf_counter() - t0
    res = {"model": args.model, "prompts": len(prompts), "threads": args.threads, "batch_size": args.batch_size,
           "max_new_tokens": args.max_new_tokens, "plain_tokens": plain_tokens, "plain_s": round(plain_s, 2),
           "plain_tok_per_s": round(plain_tokens / plain_s, 2), "codesft_tokens": ours_tokens,
           "codesft_s": round(ours_s, 2), "codesft_tok_per_s": round(ours_tokens / ours_s, 2)}
    res["ratio"] = round(res["codesft_tok_per_s"] / res["plain_tok_per_s"], 3)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
