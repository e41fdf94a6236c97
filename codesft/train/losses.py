"""Losses as pure functions of tensors: no model, no trainer, no config objects.

Conventions (those of Hugging Face causal LMs): `logits` [B, T, V] at position t predict the
token at t+1; `labels` [B, T] hold token ids with IGNORE (-100) where there is no loss
(prompt, padding). Per-token arrays (`weights`, FGit `mask`) are aligned with `labels`, i.e. with
the input positions, and are shifted here together with the labels.

FGit (docs/train.md, section "FGit"): `mask` holds the hybrid values 0 (shared token), 1 (changed line),
2 (changed line and changed token). For a sample, p̄ is the mean probability of its masked label
tokens; P = p̄_c / (p̄_c + p̄_w) is the Bradley-Terry preference of the correct code over the
incorrect one; the sample weight W comes from P by one of the `weighting` forms; a masked token
gets weight 1 + (m/2)(W - 1), a shared token weight 1. The loss is the weighted NLL of the
correct code, normalised by the number of label tokens (not by the sum of the weights, so
up-weighting really adds gradient instead of re-distributing it).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

IGNORE = -100
Weighting = Literal["bt", "bt_sym", "fixed"]
WEIGHTINGS = ("bt", "bt_sym", "fixed")
# Detached forms do not need gradients through the incorrect code: the trainer runs that half
# under torch.no_grad(). `fixed` does not need the incorrect code at all.
DETACHED = {"bt_sym", "fixed"}


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position NLL of the next token, [B, T-1], and the boolean label mask [B, T-1]."""
    target = labels[:, 1:]
    logits = logits[:, :-1]
    b, t, v = logits.shape
    # float32 for the softmax: bf16 log-probabilities are too coarse for a probability-ratio weight.
    nll = F.cross_entropy(logits.reshape(-1, v).float(), target.reshape(-1), ignore_index=IGNORE, reduction="none")
    return nll.view(b, t), target.ne(IGNORE)


def weighted_nll(nll: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor | None,
                 num_label_tokens: torch.Tensor | int | None = None) -> torch.Tensor:
    """sum(w * nll) / number of label tokens (given, e.g. across accumulation steps, or counted here)."""
    w = valid.to(nll.dtype) if weights is None else weights.to(nll.dtype) * valid
    total = (nll * w).sum()
    n = valid.sum() if num_label_tokens is None else num_label_tokens
    n = torch.as_tensor(n, device=nll.device, dtype=nll.dtype).clamp(min=1)
    return total / n


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
             num_label_tokens: torch.Tensor | int | None = None) -> torch.Tensor:
    """(Optionally per-token weighted) next-token NLL, normalised by label-token count.

    `weights` is aligned with `labels` ([B, T]); None means 1 everywhere (standard SFT).
    """
    nll, valid = token_nll(logits, labels)
    return weighted_nll(nll, valid, None if weights is None else weights[:, 1:], num_label_tokens)


def masked_mean_prob(nll: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean probability exp(-nll) over masked label positions per sample ([B]) and whether any exist ([B])."""
    sel = (mask > 0) & valid
    count = sel.sum(dim=1)
    prob = torch.exp(-nll) * sel
    return prob.sum(dim=1) / count.clamp(min=1), count > 0


def preference(p_correct: torch.Tensor, p_wrong: torch.Tensor, has_wrong: torch.Tensor | None = None) -> torch.Tensor:
    """Bradley-Terry P = p̄_c / (p̄_c + p̄_w). Without masked incorrect tokens (a pure line deletion under
    the line mask) there is no evidence either way, and P = 0.5."""
    p = p_correct / (p_correct + p_wrong).clamp(min=1e-12)
    if has_wrong is not None:
        p = torch.where(has_wrong, p, torch.full_like(p, 0.5))
    return p


def sample_weight(p: torch.Tensor, weighting: Weighting = "bt", alpha: float = 2.0,
                  fixed_weight: float | None = None) -> torch.Tensor:
    """W per sample from the preference P.

    bt:     1 + (α-1)(1-P)      in (1, α); differentiable, so the loss also pushes p̄_c above p̄_w.
    bt_sym: 1 + 4(α-1)P(1-P)    α when p̄_c = p̄_w, 1 when they diverge either way; detached.
    fixed:  a constant (fixed_weight, default α); fixed_weight = 1 is standard SFT.
    """
    if weighting == "bt":
        return 1.0 + (alpha - 1.0) * (1.0 - p)
    if weighting == "bt_sym":
        return (1.0 + 4.0 * (alpha - 1.0) * p * (1.0 - p)).detach()
    if weighting == "fixed":
        return torch.full_like(p, alpha if fixed_weight is None else fixed_weight).detach()
    raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")


def token_weights(mask: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """1 on shared tokens (m = 0); 1 + (m/2)(W - 1) on masked ones, so m = 2 gets the full W."""
    return 1.0 + (mask.to(w.dtype) / 2.0) * (w.unsqueeze(1) - 1.0)


def fgit_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
              incorrect_logits: torch.Tensor | None = None, incorrect_labels: torch.Tensor | None = None,
              incorrect_mask: torch.Tensor | None = None, *, weighting: Weighting = "bt", alpha: float = 2.0,
              fixed_weight: float | None = None, num_label_tokens: torch.Tensor | int | None = None,
              return_stats: bool = False):
    """FGit loss on the correct code. `incorrect_*` may be omitted only for `weighting='fixed'`.

    With a detached weighting the incorrect logits may come from a no-grad forward; p̄_c is
    then detached as well, so the weight is a constant for the backward pass.
    """
    nll, valid = token_nll(logits, labels)
    m = mask[:, 1:]
    if weighting == "fixed":
        w = sample_weight(torch.zeros(labels.shape[0], device=nll.device), "fixed", alpha, fixed_weight)
        p = torch.full_like(w, float("nan"))
    else:
        if incorrect_logits is None or incorrect_labels is None or incorrect_mask is None:
            raise ValueError(f"weighting {weighting!r} needs the incorrect code's logits, labels and mask")
        p_c, _ = masked_mean_prob(nll if weighting == "bt" else nll.detach(), valid, m)
        nll_w, valid_w = token_nll(incorrect_logits, incorrect_labels)
        p_w, has_w = masked_mean_prob(nll_w, valid_w, incorrect_mask[:, 1:])
        p = preference(p_c, p_w, has_w)
        w = sample_weight(p, weighting, alpha, fixed_weight)
    weights = token_weights(m, w)
    loss = weighted_nll(nll, valid, weights, num_label_tokens)
    if return_stats:
        return loss, {"fgit_weight": w.detach(), "fgit_preference": p.detach()}
    return loss


def mean_token_kl(logits_p: torch.Tensor, logits_q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of KL(p || q) between the next-token distributions of two models.

    `logits_p`, `logits_q` [B, T, V]; `mask` [B, T] (bool or 0/1) marks the positions compared (the logits at
    a position are its next-token distribution; no shift here). Token-weighted: every masked position counts
    once, whichever sequence it is in. float32, for the same reason as `token_nll`. 0 when nothing is masked.
    """
    logp = F.log_softmax(logits_p.float(), dim=-1)
    logq = F.log_softmax(logits_q.float(), dim=-1)
    kl = (logp.exp() * (logp - logq)).sum(dim=-1)  # [B, T]
    sel = mask.to(kl.dtype)
    return (kl * sel).sum() / sel.sum().clamp(min=1)
