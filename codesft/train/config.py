"""`codesft train` configuration: one typed model, every field documented, every field a CLI flag."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from codesft.config import CommandConfig


class LoraSettings(CommandConfig):
    enabled: bool = Field(default=False, description="Train a LoRA adapter (PEFT) instead of all weights.")
    r: int = Field(default=16, ge=1, description="LoRA rank.")
    alpha: int = Field(default=32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    target_modules: list[str] = Field(default_factory=lambda: ["all-linear"],
                                      description="Modules that get adapters; 'all-linear' = every linear layer but the head.")


class TrainConfig(CommandConfig):
    model: str = Field(description="Model: hub id, local directory, .gguf file, or offline:qwen2.5-coder-0.5b-instruct.")
    data: str = Field(description="A bundle directory (or a samples .jsonl file) to train on.")
    split: str = Field(default="train", description="Bundle split to train on.")
    output_dir: str = Field(default="runs/train", description="Where the model/adapter, config, manifest hash and logs go.")
    method: Literal["sft", "fgit", "dpo"] = Field(default="sft", description="sft, fgit (fault-guided), or dpo (TRL DPOTrainer on the same pairs).")
    weighting: Literal["bt", "bt_sym", "fixed"] = Field(
        default="bt_sym", description="FGit weight form: bt (differentiable), bt_sym (detached), fixed (constant).")
    alpha: float = Field(default=2.0, ge=1.0, description="FGit maximum weight α.")
    fixed_weight: float | None = Field(default=None, ge=0.0, description="W for weighting=fixed (default α; 1 = standard SFT).")
    mask: Literal["hybrid", "line", "token"] = Field(default="hybrid", description="FGit mask: hybrid (line+token), line-only or token-only.")
    pairs_only: bool | None = Field(
        default=None, description="Train only on records with a fault (default: yes for fgit/dpo, no for sft); "
                                  "set it for sft to compare methods on the same pairs.")
    allow_unverified_faults: bool = Field(
        default=False, description="Also use faults whose variant never ran against tests (Fault.verified_failing not "
                                   "true: the sample had no tests, or `faults --no-verify`); by default they are left "
                                   "out, since an unexecuted variant may be correct code labelled wrong.")
    max_length: int = Field(default=1024, ge=16, description="Maximum tokens per templated sequence (longer ones are truncated; the preflight reports cut code).")
    epochs: float = Field(default=1.0, gt=0, description="Training epochs.")
    max_steps: int = Field(default=-1, description="Stop after this many optimizer steps (-1: run the epochs).")
    learning_rate: float = Field(default=5e-6, gt=0, description="Peak learning rate.")
    lr_scheduler: str = Field(default="linear", description="Hugging Face scheduler name (linear, cosine, constant, ...).")
    warmup_ratio: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction of steps used for warmup.")
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay.")
    batch_size: int = Field(default=4, ge=1, description="Sequences per device per step (FGit also runs their incorrect twins).")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    gradient_checkpointing: bool = Field(default=False, description="Trade compute for memory.")
    bf16: bool | None = Field(default=None, description="bf16 mixed precision; default: where the GPU or CPU supports it.")
    seed: int = Field(default=0, description="Seed for data order and initialisation of new weights.")
    beta: float = Field(default=0.1, gt=0, description="DPO β.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA settings.")
    logging_steps: int = Field(default=1, ge=1, description="Log (JSON, TensorBoard) every N steps.")
    save_steps: int = Field(default=0, ge=0, description="Checkpoint every N steps (0: only at the end).")
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept.")
    resume: bool = Field(default=False, description="Resume from the last checkpoint in output_dir.")
    tensorboard: bool = Field(default=True, description="Also log to TensorBoard (output_dir/tensorboard).")
    preflight_only: bool = Field(default=False, description="Run the data and mask preflight, print its report and stop.")
    dtype: str = Field(default="auto", description="Weights dtype when loading: auto, fp32, bf16, fp16.")
    drift_prompts: int = Field(
        default=32, ge=0, le=164, description="Drift: mean per-token KL(fine-tuned || base) over the first N HumanEval "
                                              "prompts with their canonical answers, recorded in run.json (0: off).")

    @model_validator(mode="after")
    def _fixed_weight_needs_fixed(self) -> "TrainConfig":
        if self.fixed_weight is not None and self.weighting != "fixed":
            raise ValueError("fixed_weight is only used with weighting: fixed")
        if self.method != "sft" and self.pairs_only is False:
            raise ValueError(f"method '{self.method}' trains on (correct, incorrect) pairs only; pairs_only cannot be false")
        return self

    @property
    def use_pairs_only(self) -> bool:
        return self.method != "sft" if self.pairs_only is None else self.pairs_only
