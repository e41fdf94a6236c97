"""`codesft.train.train(config) -> Path`: checks, preflight, model, trainer, outputs.

Order matters: everything that can be wrong with the config or the data is found before the
model weights are loaded (bad field, missing bundle, model path, bundle without faults, empty
assistant masks), so a bad run stops in seconds with a message that names the problem.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import yaml

from codesft.config import ConfigError
from codesft.pairs import NotPaired, pair_messages
from codesft.train.config import TrainConfig
from codesft.train.data import DataError, PreflightReport, encode_all, load_samples, records_hash, usable_faults


class PreflightError(DataError):
    """The mask preflight found records that would train on nothing (or not on their code)."""

    def __init__(self, report: PreflightReport):
        self.report = report
        super().__init__(report.summary() + "\nfix the chat template / max_length / records above, "
                                            "or inspect them with --preflight-only")


def check_config(config: TrainConfig) -> tuple[list, str, int]:
    """Cheap checks and the training records (faults training may use, `usable_faults`) with the number of
    unverified faults left out; raises ConfigError naming the problem."""
    data = Path(config.data)
    if not data.exists():
        raise ConfigError(f"data: bundle not found: {data}")
    if data.is_file() and data.suffix != ".jsonl":
        raise ConfigError(f"data: {data} is neither a bundle directory nor a samples .jsonl file")
    from codesft.models import ModelSourceError

    model = str(config.model)
    looks_local = model.startswith((".", "/", "~")) or model.endswith(".gguf") or model.count("/") != 1
    if not model.startswith("offline:") and looks_local and not Path(model).expanduser().exists():
        raise ConfigError(f"model: path not found: {model}")
    if Path(model).expanduser().is_dir() and not (Path(model).expanduser() / "config.json").is_file():
        raise ConfigError(f"model: {model} is a directory without config.json")
    try:
        samples, manifest_hash = load_samples(data, config.split)
    except (DataError, ModelSourceError) as exc:
        raise ConfigError(str(exc)) from None
    if not samples:
        raise ConfigError(f"data: {data} has no records in split '{config.split}'")
    samples, left_out = usable_faults(samples, config.allow_unverified_faults)
    if config.method in ("fgit", "dpo") and not any(s.fault is not None for s in samples):
        if left_out:
            raise ConfigError(f"data: {data} has no verified faults in split '{config.split}' ({left_out} unverified: "
                              f"their variants never ran against tests); method '{config.method}' needs them: give the "
                              f"samples tests, or pass --allow-unverified-faults to train on unverified ones")
        raise ConfigError(f"data: {data} has no faults (Sample.fault) in split '{config.split}'; method "
                          f"'{config.method}' needs them: run `codesft faults {data}` first")
    return samples, manifest_hash, left_out


def _load_tokenizer(model: str) -> tuple[Any, dict[str, Any]]:
    from transformers import AutoTokenizer

    from codesft.models import resolve_model_source

    local, info = resolve_model_source(model)
    tok = AutoTokenizer.from_pretrained(str(local))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, info


def preflight(config: TrainConfig, samples: list, tokenizer: Any):
    # DPO pairs are checked like FGit's: both the correct and the incorrect turn must render and be covered.
    encoded, report = encode_all(samples, tokenizer, config.max_length, config.method in ("fgit", "dpo"),
                                 config.mask, pairs_only=config.use_pairs_only)
    if config.method == "dpo":
        # A record DPO cannot pair (tool calls, no final answer, variant equal to the solution) stops the run
        # here, named, rather than being left out of the training set unseen.
        for s in samples:
            if s.fault is not None:
                try:
                    pair_messages(s)
                except NotPaired as exc:
                    report.add_problem(s.sample_id, f"dpo: no preference pair ({exc})")
    return encoded, report


def _bf16(config: TrainConfig) -> bool:
    if config.bf16 is not None:
        return config.bf16
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    # CPU autocast to bf16 only pays off with native bf16 instructions (AVX512-BF16 / AMX).
    from codesft.models import cpu_has_native_bf16

    return cpu_has_native_bf16()


def _training_args(config: TrainConfig, out: Path, args_cls: Any = None, **extra: Any) -> Any:
    import torch
    from transformers import TrainingArguments

    cls = args_cls or TrainingArguments
    return cls(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, learning_rate=config.learning_rate,
        num_train_epochs=config.epochs, max_steps=config.max_steps, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay, logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "epoch", save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit, seed=config.seed, data_seed=config.seed, bf16=_bf16(config),
        remove_unused_columns=False, report_to=[], dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        # transformers refuses bf16 on a machine without a GPU unless told the run is on the CPU.
        use_cpu=not torch.cuda.is_available(),
        # only passed when wanted: the flag was renamed (activation_checkpointing) in transformers 5
        **({"gradient_checkpointing": True} if config.gradient_checkpointing else {}), **extra)


def _callbacks(config: TrainConfig, out: Path) -> list:
    from codesft.train.trainer import JsonLogCallback, StopOnNonFiniteCallback, TrimHeapCallback

    # The log callback comes first so the record with the NaN is on disk when the guard stops the run.
    callbacks: list = [JsonLogCallback(out / "train_log.jsonl"), StopOnNonFiniteCallback(), TrimHeapCallback()]
    if config.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(out / "tensorboard"))))
    return callbacks


def _lora(config: TrainConfig) -> Any:
    if not config.lora.enabled:
        return None
    from peft import LoraConfig

    targets = config.lora.target_modules
    return LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=targets[0] if targets == ["all-linear"] else targets, task_type="CAUSAL_LM")


def dpo_rows(samples: list) -> list[dict[str, Any]]:
    """TRL conversational preference rows: each record's pair (codesft.pairs), the rows the DPO export writes.
    The preflight has already stopped the run on a record without one."""
    return [pair_messages(s).row() for s in samples]


def _last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    d = out / "checkpoints"
    return get_last_checkpoint(str(d)) if d.is_dir() else None


def train(config: TrainConfig) -> Path:
    """Train as configured; returns the output directory (model/ or adapter, config.yaml, run.json, logs)."""
    samples, manifest_hash, unverified_left_out = check_config(config)
    tokenizer, model_info = _load_tokenizer(config.model)
    encoded, report = preflight(config, samples, tokenizer)
    report.unverified_faults_left_out = unverified_left_out
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "preflight.json").write_text(json.dumps(report.to_dict(), indent=2))
    if not report.passed:
        raise PreflightError(report)
    if config.preflight_only:
        return out

    from codesft.models import device_description, load_model_and_tokenizer
    from codesft.train.data import Collator, EncodedDataset

    model, _ = load_model_and_tokenizer(config.model, dtype=config.dtype)
    model.train()
    resume = _last_checkpoint(out) if config.resume else None
    if config.method == "dpo":
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        used = [s for s in samples if s.fault is not None]
        args = _training_args(config, out, DPOConfig, beta=config.beta, max_length=config.max_length)
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(dpo_rows(used)),
                             processing_class=tokenizer, peft_config=_lora(config), callbacks=_callbacks(config, out))
    else:
        from codesft.train.trainer import FGitTrainer

        lora = _lora(config)
        if lora is not None:
            from peft import get_peft_model

            if config.gradient_checkpointing:
                model.enable_input_require_grads()
            model = get_peft_model(model, lora)
        used = [s for s in samples if s.fault is not None] if config.use_pairs_only else samples
        trainer = FGitTrainer(model=model, args=_training_args(config, out), train_dataset=EncodedDataset(encoded),
                              data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                              callbacks=_callbacks(config, out), method=config.method, weighting=config.weighting,
                              alpha=config.alpha, fixed_weight=config.fixed_weight, pad_token_id=tokenizer.pad_token_id)
    _check_drift_possible(config, trainer)
    with _attention_without_cudnn():
        result = trainer.train(resume_from_checkpoint=resume)
    if trainer.is_world_process_zero():
        trainer.save_model(str(out / "model"))
        tokenizer.save_pretrained(str(out / "model"))
        (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        run = {"method": config.method, "model": model_info, "data": str(config.data), "split": config.split,
               "data_manifest_hash": manifest_hash, "records_hash": records_hash(used), "records": len(used),
               "preflight": {k: v for k, v in report.to_dict().items() if k != "problems"},
               "resumed_from": resume, "metrics": result.metrics, "global_step": trainer.state.global_step,
               "adapter": bool(config.lora.enabled), "versions": _versions(),
               "device": device_description(trainer.args.device),
               "drift": _drift(config, trainer.accelerator.unwrap_model(trainer.model), tokenizer)}
        (out / "run.json").write_text(json.dumps(run, indent=2, default=str))
    return out


def _check_drift_possible(config: TrainConfig, trainer: Any) -> None:
    """Before training: the drift is measured on the main process alone, where a sharded model would wait for
    the other ranks forever."""
    if config.drift_prompts and (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        raise ConfigError("drift_prompts: drift is not measured on a sharded model (FSDP/DeepSpeed); "
                          "set --drift-prompts 0")


def _drift(config: TrainConfig, model: Any, tokenizer: Any) -> dict[str, Any] | None:
    """The drift figure (codesft.train.drift) of the trained model, or None when `drift_prompts` is 0. A LoRA
    model is its own base (adapter disabled); a full fine-tune loads the base once more."""
    if config.drift_prompts == 0:
        return None
    from codesft.train.drift import measure_drift

    base = None
    if not hasattr(model, "disable_adapter"):
        from codesft.models import load_model_and_tokenizer

        base, _ = load_model_and_tokenizer(config.model, dtype=config.dtype)
    return measure_drift(model, tokenizer, config.drift_prompts, config.max_length, base=base).to_dict()


def _attention_without_cudnn() -> Any:
    """SDPA may use every backend but cuDNN while training on CUDA. cuDNN attention returned NaN gradients on a
    padded batch (H100, torch 2.11, Qwen2.5-Coder-0.5B, LoRA; the forward loss was finite) and AdamW turned them
    into NaN weights; memory-efficient attention gave finite gradients on the same batches and the CPU run's train
    loss (0.581). Known upstream: pytorch/pytorch#196678 (cuDNN backward, attn_mask, seq_len % 128 == 64, H100/H200,
    since 2.11) and huggingface/trl#7181 (Qwen2.5 DPO). Scoped to training: evaluation keeps the defaults."""
    import contextlib

    import torch

    if not torch.cuda.is_available():
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("codesft", "torch", "transformers", "trl", "peft", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
