"""Trainer glue, one level below the Hugging Face `Trainer`: only `compute_loss` (and `log`, to add
the FGit weight statistics) are overridden; optimisation, schedules, checkpoints, resume,
distributed training (accelerate DDP/FSDP/DeepSpeed), progress bars and logging stay Hugging Face's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from codesft.train.losses import DETACHED, IGNORE, fgit_loss, sft_loss


def _pad_to(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    if t.shape[1] == width:
        return t
    return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)


class FGitTrainer(Trainer):
    """`method='sft'`: token-normalised NLL on assistant tokens. `method='fgit'`: the FGit loss.

    For a detached weighting (bt_sym, fixed) the incorrect code runs under `torch.no_grad()` after
    the correct one (fixed needs no incorrect pass at all): no backward for it, so a step costs at
    most about 4/3 of an SFT step, and less because the pass reuses the correct pass's cache for the
    shared prefix and stops at the last masked token (see `_incorrect_pass`). For `bt` the weight is differentiable, so correct and incorrect
    sequences go through the model in ONE batched forward and both halves get gradients (~2x).
    """

    def __init__(self, *args: Any, method: str = "sft", weighting: str = "bt_sym", alpha: float = 2.0,
                 fixed_weight: float | None = None, pad_token_id: int = 0, share_prefix: bool = True,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.method, self.weighting, self.alpha, self.fixed_weight = method, weighting, alpha, fixed_weight
        self.pad_token_id = pad_token_id
        # Reuse the correct pass's KV cache for the incorrect pass (off under gradient checkpointing,
        # where Hugging Face models return no cache in training).
        self.share_prefix = share_prefix and not self.args.gradient_checkpointing
        # Our compute_loss normalises by `num_items_in_batch` (label tokens over all accumulated
        # micro-batches), so the Trainer must count it for us and must not divide again.
        self.model_accepts_loss_kwargs = True
        self.loss_is_scaled_for_ga = True
        self._fgit_stats: list[tuple[float, float]] = []

    def _logits(self, model: Any, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=attn, use_cache=False).logits

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        labels = inputs["labels"]
        fgit = self.method == "fgit" and "fgit_mask" in inputs
        if not fgit:
            logits = self._logits(model, inputs["input_ids"], inputs["attention_mask"])
            loss = sft_loss(logits, labels, None, num_items_in_batch)
        elif self.weighting == "bt":
            width = max(labels.shape[1], inputs["incorrect_labels"].shape[1])
            ids = torch.cat([_pad_to(inputs["input_ids"], width, self.pad_token_id),
                             _pad_to(inputs["incorrect_input_ids"], width, self.pad_token_id)])
            attn = torch.cat([_pad_to(inputs["attention_mask"], width, 0),
                              _pad_to(inputs["incorrect_attention_mask"], width, 0)])
            both = self._logits(model, ids, attn)
            b = labels.shape[0]
            loss, stats = fgit_loss(
                both[:b], _pad_to(labels, width, IGNORE), _pad_to(inputs["fgit_mask"], width, 0),
                both[b:], _pad_to(inputs["incorrect_labels"], width, IGNORE), _pad_to(inputs["incorrect_mask"], width, 0),
                weighting="bt", alpha=self.alpha, num_label_tokens=num_items_in_batch, return_stats=True)
            logits = both[:b]
        else:
            assert self.weighting in DETACHED
            wrong = w_labels = w_mask = None
            if self.weighting == "fixed":  # a constant weight needs no incorrect pass at all
                logits = self._logits(model, inputs["input_ids"], inputs["attention_mask"])
            else:
                out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                            use_cache=self.share_prefix)
                logits = out.logits
                with torch.no_grad():
                    wrong, w_labels, w_mask = self._incorrect_pass(model, inputs, getattr(out, "past_key_values", None))
            loss, stats = fgit_loss(
                logits, labels, inputs["fgit_mask"], wrong, w_labels, w_mask,
                weighting=self.weighting, alpha=self.alpha, fixed_weight=self.fixed_weight,
                num_label_tokens=num_items_in_batch, return_stats=True)
        if fgit:
            self._fgit_stats.append((stats["fgit_weight"].mean().item(),
                                     stats["fgit_preference"].nan_to_num(0.5).mean().item()))
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # num_items_in_batch is the global count over all processes and DDP averages gradients,
            # so scale back up, exactly as Trainer.compute_loss does for models' own losses.
            loss = loss * self.accelerator.num_processes
        return (loss, {"logits": logits}) if return_outputs else loss

    def _incorrect_pass(self, model: Any, inputs: dict[str, Any], cache: Any) -> tuple:
        """Logits, labels and mask of the incorrect code, computed only where p̄_w needs them.

        Causality makes two cuts exact: tokens after the last masked position cannot change the
        probabilities p̄_w reads, so the input stops there; and the correct and incorrect sequences
        are identical up to the first difference (same prompt, same code prefix), so the correct
        pass's key/value cache, cropped to that shared prefix, replaces recomputing it. The result
        is returned in the compact form [dummy | kept positions] that `fgit_loss` shifts as usual.
        """
        ids, attn = inputs["incorrect_input_ids"], inputs["incorrect_attention_mask"]
        w_labels, w_mask = inputs["incorrect_labels"], inputs["incorrect_mask"]
        masked = (w_mask[:, 1:] > 0).any(dim=0).nonzero()
        if masked.numel() == 0:  # no masked incorrect token anywhere: p̄_w is not used (P = 0.5)
            return None, w_labels, w_mask
        end = int(masked.max()) + 1  # logits positions [start, end) predict labels (start, end]
        start = 0
        c_ids = inputs["input_ids"]
        width = min(c_ids.shape[1], ids.shape[1], end)
        if cache is not None and width > 1:
            differs = (c_ids[:, :width] != ids[:, :width]).any(dim=0).nonzero()
            shared = int(differs.min()) if differs.numel() else width
            start = min(shared, int(masked.min()))  # cache holds only shared positions; feed from there
        if start > 0:
            drop = cache.get_seq_length() - start
            if drop > 0:
                cache.crop(-drop)  # negative = tokens to remove: the form every transformers version accepts
            out = model(input_ids=ids[:, start:end], attention_mask=attn[:, :end], past_key_values=cache,
                        use_cache=True)
        else:
            out = model(input_ids=ids[:, :end], attention_mask=attn[:, :end], use_cache=False)
        b = ids.shape[0]
        pad = torch.full((b, 1), IGNORE, dtype=w_labels.dtype, device=w_labels.device)
        logits = torch.cat([out.logits, out.logits[:, :1]], dim=1)  # trailing dummy, dropped by the shift
        labels = torch.cat([pad, w_labels[:, start + 1:end + 1]], dim=1)
        mask = torch.cat([torch.zeros_like(pad), w_mask[:, start + 1:end + 1]], dim=1)
        return logits, labels, mask

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._fgit_stats and "loss" in logs:
            logs["fgit_weight"] = sum(w for w, _ in self._fgit_stats) / len(self._fgit_stats)
            logs["fgit_preference"] = sum(p for _, p in self._fgit_stats) / len(self._fgit_stats)
            self._fgit_stats.clear()
        super().log(logs, *args, **kwargs)


class TrimHeapCallback(TrainerCallback):
    """Hands freed heap memory back to the OS (glibc `malloc_trim`) when the process holds over half of RAM.

    On CPU every step allocates activations of a new shape (batches differ in length) and glibc keeps the freed
    chunks in fragmented heaps instead of returning them: a LoRA FGit run on the 0.5B model climbed to 24 GB RSS
    by step 30 and was OOM-killed. Returning memory after every step is no answer either: re-faulting it made
    steps twice as slow (as did a fixed mmap threshold). So the heap is trimmed only when RSS passes
    `fraction` of physical memory, which bounds it at the cost of an occasional slower step. Under a preloaded
    jemalloc (the fastest set-up measured here, see docs/train.md) its arenas are purged instead. A no-op where
    neither exists (musl, macOS).
    """

    def __init__(self, fraction: float = 0.5) -> None:
        import ctypes
        import os

        self._trim: Any = None
        try:
            self.limit = fraction * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            mallctl = getattr(ctypes.CDLL(None), "mallctl", None)  # jemalloc, when it is LD_PRELOADed
            if mallctl is not None:  # purge every arena (4096 = MALLCTL_ARENAS_ALL)
                self._trim = lambda _pad: mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0))
            else:
                self._trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError, ValueError):
            self._trim = None
        self.trims = 0

    @staticmethod
    def rss_bytes() -> int:
        import os

        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._trim is not None and self.rss_bytes() > self.limit:
            self._trim(0)
            self.trims += 1


class JsonLogCallback(TrainerCallback):
    """Appends every log record (loss, lr, grad norm, FGit weight, ...) as one JSON line."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"step": state.global_step, "epoch": state.epoch, **logs}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=float) + "\n")


class NonFiniteGradientError(RuntimeError):
    """Training produced a NaN or infinite gradient norm; the run stops before it saves a broken model."""


class StopOnNonFiniteCallback(TrainerCallback):
    """Stops the run at the first logged NaN/inf gradient norm. AdamW turns one NaN gradient into NaN weights, and
    from then on every step logs a loss the Trainer's NaN filter hides: the run would finish and save a model that
    only generates garbage (seen with the cuDNN attention backend on an H100, see codesft.train.run)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        norm = (logs or {}).get("grad_norm")
        if norm is not None and not math.isfinite(float(norm)):
            raise NonFiniteGradientError(
                f"gradient norm {norm} at step {state.global_step}: stopped before the weights are saved. "
                "Lower the learning rate, train in fp32 (--dtype fp32 --bf16 false), or on CUDA try another "
                "attention backend.")
