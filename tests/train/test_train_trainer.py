"""The trainer's FGit path against the pure loss on full forwards: the shared-prefix shortcut is exact."""

import pytest
import torch

from codesft.train.config import TrainConfig
from codesft.train.data import Collator, EncodedDataset, encode_all
from codesft.train.losses import fgit_loss, sft_loss


@pytest.fixture()
def setup(tiny_model_dir, tokenizer, pair_samples, tmp_path):
    from transformers import AutoModelForCausalLM

    from codesft.train.run import _training_args
    from codesft.train.trainer import FGitTrainer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    model.train()
    encoded, report = encode_all(pair_samples, tokenizer, 256, True)
    assert report.passed
    batch = Collator(tokenizer.pad_token_id)(list(EncodedDataset(encoded)))
    cfg = TrainConfig(model=str(tiny_model_dir), data="-", output_dir=str(tmp_path), bf16=False, tensorboard=False)

    def make(**kw):
        return FGitTrainer(model=model, args=_training_args(cfg, tmp_path), pad_token_id=tokenizer.pad_token_id, **kw)

    return model, batch, make


@pytest.mark.parametrize("weighting", ["bt_sym", "bt", "fixed"])
def test_trainer_loss_equals_the_pure_loss_on_full_forwards(setup, weighting):
    model, batch, make = setup
    n = batch["labels"][:, 1:].ne(-100).sum()
    with torch.no_grad():
        full_c = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        full_w = model(input_ids=batch["incorrect_input_ids"], attention_mask=batch["incorrect_attention_mask"]).logits
        expected = fgit_loss(full_c, batch["labels"], batch["fgit_mask"], full_w, batch["incorrect_labels"],
                             batch["incorrect_mask"], weighting=weighting, num_label_tokens=n)
        for share in (True, False):
            got = make(method="fgit", weighting=weighting, share_prefix=share).compute_loss(
                model, dict(batch), num_items_in_batch=n)
            assert got.item() == pytest.approx(expected.item(), rel=1e-4), (weighting, share)
        sft = make(method="sft").compute_loss(model, dict(batch), num_items_in_batch=n)
        assert sft.item() == pytest.approx(sft_loss(full_c, batch["labels"], num_label_tokens=n).item(), rel=1e-5)
    assert expected.item() > sft.item()  # up-weighting adds loss on error-sensitive tokens


def test_detached_weighting_gives_no_gradient_through_the_incorrect_pass(setup):
    model, batch, make = setup
    trainer = make(method="fgit", weighting="bt_sym")
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert trainer._fgit_stats and 1.0 < trainer._fgit_stats[0][0] <= 2.0


def test_heap_is_trimmed_only_past_the_memory_limit(tmp_path):
    from codesft.train.run import _callbacks
    from codesft.train.trainer import TrimHeapCallback

    cfg = TrainConfig(model="-", data="-", output_dir=str(tmp_path), tensorboard=False)
    assert any(isinstance(cb, TrimHeapCallback) for cb in _callbacks(cfg, tmp_path))

    high = TrimHeapCallback(fraction=10.0)
    high.on_step_end(None, None, None)
    assert high.trims == 0
    low = TrimHeapCallback(fraction=1e-6)
    if low._trim is None:
        pytest.skip("this libc has no malloc_trim")
    # Fragment the heap as training steps do: 64 KiB blocks stay below glibc's mmap threshold, and freeing every
    # other one leaves holes that free() alone never returns to the OS.
    blocks = [bytearray(64 * 1024) for _ in range(3200)]
    del blocks[::2]
    before = TrimHeapCallback.rss_bytes()
    low.on_step_end(None, None, None)
    assert low.trims == 1
    assert before - TrimHeapCallback.rss_bytes() > 50 * 2**20
    del blocks
