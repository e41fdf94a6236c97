"""Training speed, side by side:

1. FGit step time / SFT step time on the same model and batch (target <= 1.4; ~1.33 is the floor
   with a gradient-free incorrect pass). Timed: forward + backward (`Trainer.training_step`),
   median of N after warm-up; the optimizer step is identical for both and left out, which makes
   the ratio stricter, not looser.
2. SFT tokens/s of codesft's trainer vs TRL's `SFTTrainer` on the same model, data, batch size and
   number of steps (target >= 1.0), at equal settings: both without gradient checkpointing, and both
   with it (TRL's SFTConfig turns it on by default, codesft does not, so its defaults are not compared
   as if they were equal). TRL is also measured with its speed features (padding-free batching, packing),
   with a check of whether they compute the same thing on this device. Tokens = non-padding input
   tokens the model's forward pass sees, counted by a hook, whatever the batch layout.

Data: HumanEval prompts + canonical solutions (shipped with codesft), each with a mutation fault.
Models: the tiny random Llama of the tests (default), or any model source (e.g.
`--model offline:qwen2.5-coder-0.5b-instruct --lora`).

    python benchmarks/train_step.py                       # tiny model
    python benchmarks/train_step.py --model offline:qwen2.5-coder-0.5b-instruct --lora --n 64
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def samples(n: int):
    from codesft.faults.mutation import mutate
    from codesft.faults.spans import diff_spans
    from codesft.schema import Code, Fault, Message, Provenance, Sample, Source

    path = resources.files("codesft").joinpath("data/benchmarks/HumanEval.jsonl.gz")
    out = []
    with gzip.open(str(path), "rt") as fh:
        for line in fh:
            r = json.loads(line)
            solution = r["prompt"] + r["canonical_solution"]
            variants = mutate(solution, 1, seed=0, key=r["task_id"])
            if not variants:
                continue
            cs, ws = diff_spans(solution, variants[0].code)
            sid = r["task_id"].replace("/", "-")
            out.append(Sample(
                sample_id=sid, source=Source(kind="eval_question", group_key=sid),
                messages=[Message(role="user", content=f"Complete the function.\n```python\n{r['prompt']}```"),
                          Message(role="assistant", content=f"```python\n{solution}```")],
                code=Code(solution=solution),
                fault=Fault(incorrect=variants[0].code, generator="mutation", similarity=0.9,
                            correct_spans=cs, incorrect_spans=ws),
                provenance=Provenance(content_hash=sid, source_path="HumanEval")))
            if len(out) >= n:
                break
    return out


def tiny_model(tmp: Path) -> str:
    from codesft.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp / "tiny"))


def load(source: str, lora: bool):
    from codesft.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(source, dtype="fp32")
    model.train()
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    return model, tok


def step_ratio(source: str, lora: bool, data, args, tmp: Path) -> dict:
    import torch

    from codesft.train.data import Collator, EncodedDataset, encode_all
    from codesft.train.run import _training_args
    from codesft.train.config import TrainConfig
    from codesft.train.trainer import FGitTrainer

    model, tok = load(source, lora)
    encoded, report = encode_all(data[: args.batch_size], tok, args.max_length, True)
    assert report.passed, report.summary()
    batch = Collator(tok.pad_token_id)(list(EncodedDataset(encoded)))
    n_items = batch["labels"][:, 1:].ne(-100).sum()
    cfg = TrainConfig(model=source, data="-", output_dir=str(tmp / "ratio"), bf16=False, tensorboard=False)
    trainers = {name: FGitTrainer(model=model, args=_training_args(cfg, tmp / "ratio"), method=method,
                                  weighting=weighting, pad_token_id=tok.pad_token_id,
                                  data_collator=Collator(tok.pad_token_id))
                for name, method, weighting in (("sft", "sft", "bt_sym"), ("fgit_bt_sym", "fgit", "bt_sym"),
                                                ("fgit_bt", "fgit", "bt"), ("fgit_fixed", "fgit", "fixed"))}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    # Round-robin over the methods so that load from other processes hits all of them alike.
    for i in range(args.warmup + args.repeats):
        for name, tr in trainers.items():
            model.zero_grad(set_to_none=True)
            t = time.perf_counter()
            tr.training_step(model, dict(batch), n_items)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t)
    out = {name: statistics.median(v) for name, v in times.items()}
    return {"step_s": {k: round(v, 4) for k, v in out.items()},
            "ratio": {k: round(out[k] / out["sft"], 3) for k in out if k != "sft"},
            "batch_tokens": int(batch["attention_mask"].sum()), "batch_shape": list(batch["input_ids"].shape)}


class TokenCounter:
    """Counts the real (non-padding) tokens each training forward pass sees, whatever the batch layout:
    padded batches carry an attention mask; padding-free and packed batches (TRL) carry position_ids only."""

    def __init__(self, model) -> None:
        self.tokens = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(mask.sum()) if mask is not None else int(ids.numel())


# Settings compared. Each TRL row names what it changes against codesft's row at the same checkpointing.
# TRL's SFTConfig defaults to gradient_checkpointing=True while codesft defaults to False, so a ratio
# against TRL's defaults measures the checkpointing, not the trainer: rows pair equal settings.
CONDITIONS = [
    ("codesft", {"gradient_checkpointing": False}),
    ("trl", {"gradient_checkpointing": False}),
    ("codesft", {"gradient_checkpointing": True}),
    ("trl", {"gradient_checkpointing": True}),
    # TRL's speed features. On CPU attention (sdpa/eager) they are not the same computation: the packed
    # rows let a sample attend to the one before it (see the docstring of packed_attention_leak).
    # TRL refuses padding_free without packing unless max_length is None (it cannot truncate a flat row).
    ("trl", {"gradient_checkpointing": False, "padding_free": True, "max_length": None}),
    ("trl", {"gradient_checkpointing": False, "packing": True}),
]


def packed_attention_leak(source: str) -> float:
    """Max |logit difference| on the second of two samples between running them separately and running them
    as one padding-free row with restarted position_ids (TRL's padding-free layout). 0 means the attention
    kernel keeps samples apart (FlashAttention's varlen path does); anything else means TRL's padding-free and
    packing rows train on cross-sample attention on this device, so their speed is not like for like."""
    import torch

    model, _ = load(source, False)
    model.eval()
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, model.config.vocab_size, (1, 24), generator=g)
    b = torch.randint(0, model.config.vocab_size, (1, 16), generator=g)
    with torch.no_grad():
        alone = model(b).logits[0]
        pos = torch.cat([torch.arange(a.shape[1]), torch.arange(b.shape[1])])[None]
        packed = model(torch.cat([a, b], 1), position_ids=pos).logits[0, a.shape[1]:]
    return float((alone - packed).abs().max())


def tokens_per_second(source: str, lora: bool, data, args, tmp: Path) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from codesft.train.config import TrainConfig
    from codesft.train.data import Collator, EncodedDataset, encode_all
    from codesft.train.run import _training_args, dpo_rows
    from codesft.train.trainer import FGitTrainer

    common = dict(max_steps=args.steps, per_device_train_batch_size=args.batch_size, learning_rate=1e-5,
                  logging_steps=10_000, save_strategy="no", report_to=[], seed=0, bf16=False,
                  dataloader_pin_memory=False, disable_tqdm=True)

    def ours_run(settings: dict) -> tuple[float, int]:
        model, tok = load(source, lora)
        if settings["gradient_checkpointing"] and lora:
            model.enable_input_require_grads()  # what codesft's train() does for LoRA + checkpointing
        encoded, _ = encode_all(data, tok, args.max_length, False)
        cfg = TrainConfig(model=source, data="-", output_dir=str(tmp / "cs"), bf16=False, tensorboard=False,
                          max_steps=args.steps, batch_size=args.batch_size, learning_rate=1e-5, logging_steps=10_000,
                          gradient_checkpointing=settings["gradient_checkpointing"])
        targs = _training_args(cfg, tmp / "cs")
        targs.save_strategy, targs.disable_tqdm = "no", True
        counter = TokenCounter(model)
        tr = FGitTrainer(model=model, args=targs, train_dataset=EncodedDataset(encoded),
                         data_collator=Collator(tok.pad_token_id), method="sft")
        return tr.train().metrics["train_runtime"], counter.tokens

    def trl_run(settings: dict) -> tuple[float, int]:
        # TRL SFTTrainer on the same conversations (prompt/completion: loss on the assistant turn only)
        model, tok = load(source, lora)
        rows = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in dpo_rows(data)]
        trl_args = SFTConfig(output_dir=str(tmp / "trl"), **{"max_length": args.max_length, **common, **settings})
        counter = TokenCounter(model)
        trl = SFTTrainer(model=model, args=trl_args, train_dataset=Dataset.from_list(rows), processing_class=tok)
        return trl.train().metrics["train_runtime"], counter.tokens

    runners = {"codesft": ours_run, "trl": trl_run}
    best: dict[int, float] = {}
    # Two rounds over all conditions, each side's best run kept: the first run of a process pays one-time costs,
    # and round-robin spreads load from other processes over every condition alike.
    for _ in range(2):
        for i, (who, settings) in enumerate(CONDITIONS):
            seconds, tokens = runners[who](settings)
            best[i] = max(best.get(i, 0.0), tokens / seconds)
    rows = [{"trainer": who, **{k: v for k, v in settings.items() if k != "max_length"},
             "tokens_per_s": round(best[i], 1)} for i, (who, settings) in enumerate(CONDITIONS)]
    ratio = lambda a, b: round(best[a] / best[b], 3)  # noqa: E731
    return {"steps": args.steps, "rows": rows,
            "codesft_vs_trl_no_checkpointing": ratio(0, 1), "codesft_vs_trl_checkpointing": ratio(2, 3),
            "codesft_vs_trl_defaults": ratio(0, 3),
            "codesft_vs_trl_padding_free": ratio(0, 4), "codesft_vs_trl_packing": ratio(0, 5),
            "packed_attention_leak_max_logit_diff": round(packed_attention_leak(source), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model source (default: the tiny random Llama)")
    ap.add_argument("--lora", action="store_true")
    ap.add_argument("--n", type=int, default=64, help="samples for the tokens/s comparison")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        source = args.model or tiny_model(tmp)
        data = samples(args.n)
        result = {"model": args.model or "tiny-llama (2 layers, width 64)", "lora": args.lora,
                  "device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(),
                  "step": step_ratio(source, args.lora, data, args, tmp),
                  "throughput": tokens_per_second(source, args.lora, data, args, tmp)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
