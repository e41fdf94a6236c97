import math

import pytest
import torch

from codesft.train.losses import fgit_loss, preference, sample_weight, sft_loss, token_weights

# Vocabulary of 2; logits [0, ln 3] give probabilities [0.25, 0.75] at every position.
LOGITS = torch.tensor([[[0.0, math.log(3.0)]] * 3])


def test_sft_loss_matches_hand_computation():
    labels = torch.tensor([[-100, 1, 0]])
    expected = (-math.log(0.75) - math.log(0.25)) / 2
    assert sft_loss(LOGITS, labels).item() == pytest.approx(expected, rel=1e-5)
    weights = torch.tensor([[1.0, 3.0, 1.0]])
    assert sft_loss(LOGITS, labels, weights).item() == pytest.approx((-3 * math.log(0.75) - math.log(0.25)) / 2, rel=1e-5)
    # An explicit label count (gradient accumulation across batches) replaces the local one.
    assert sft_loss(LOGITS, labels, num_label_tokens=4).item() == pytest.approx(expected / 2, rel=1e-5)


@pytest.mark.parametrize("weighting,w", [("bt", 1.25), ("bt_sym", 1.75), ("fixed", 2.0)])
def test_fgit_loss_matches_hand_computation(weighting, w):
    labels = torch.tensor([[-100, 1, 0]])           # masked token has p = 0.75 in the correct code
    mask = torch.tensor([[0, 2, 0]])
    wrong_labels = torch.tensor([[-100, 0, 0]])     # and p = 0.25 in the incorrect one
    # p̄_c = 0.75, p̄_w = 0.25 -> P = 0.75; bt: 1 + (1 - 0.75) = 1.25; bt_sym: 1 + 4 * 0.75 * 0.25 = 1.75
    loss, stats = fgit_loss(LOGITS, labels, mask, LOGITS, wrong_labels, mask, weighting=weighting, alpha=2.0,
                            return_stats=True)
    expected = (w * -math.log(0.75) - math.log(0.25)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert stats["fgit_weight"].item() == pytest.approx(w, rel=1e-5)


def test_mask_value_one_gets_half_the_extra_weight():
    labels = torch.tensor([[-100, 1, 0]])
    mask = torch.tensor([[0, 1, 0]])
    loss = fgit_loss(LOGITS, labels, mask, weighting="fixed", alpha=3.0)
    assert loss.item() == pytest.approx((2.0 * -math.log(0.75) - math.log(0.25)) / 2, rel=1e-5)


def test_token_weights_are_one_on_shared_and_in_range_on_masked():
    mask = torch.tensor([[0, 1, 2, 0], [2, 2, 0, 1]])
    for p in (0.01, 0.3, 0.5, 0.9, 0.99):
        for weighting in ("bt", "bt_sym"):
            w = sample_weight(torch.tensor([p, 1 - p]), weighting, alpha=2.0)
            tw = token_weights(mask, w)
            assert torch.all(tw[mask == 0] == 1.0)
            assert torch.all(tw[mask > 0] > 1.0) and torch.all(tw[mask > 0] <= 2.0)
    # bt_sym reaches α exactly when the probabilities are equal
    assert sample_weight(torch.tensor([0.5]), "bt_sym", alpha=2.0).item() == pytest.approx(2.0)


def test_preference_without_masked_incorrect_tokens_is_neutral():
    p = preference(torch.tensor([0.8, 0.0]), torch.tensor([0.2, 0.0]), torch.tensor([True, False]))
    assert p.tolist() == pytest.approx([0.8, 0.5])


def test_bt_is_differentiable_through_the_incorrect_code_and_bt_sym_is_not():
    labels = torch.tensor([[-100, 1, 0]])
    mask = torch.tensor([[0, 2, 0]])
    wrong_labels = torch.tensor([[-100, 0, 0]])
    for weighting, expect_grad in (("bt", True), ("bt_sym", False)):
        correct = LOGITS.clone().requires_grad_(True)
        wrong = LOGITS.clone().requires_grad_(True)
        fgit_loss(correct, labels, mask, wrong, wrong_labels, mask, weighting=weighting).backward()
        has = wrong.grad is not None and wrong.grad.abs().sum().item() > 0
        assert has == expect_grad, weighting
        assert correct.grad.abs().sum().item() > 0


def test_bt_gradient_pushes_the_correct_token_up_more_than_sft():
    labels = torch.tensor([[-100, 1, 0]])
    mask = torch.tensor([[0, 2, 0]])
    a = LOGITS.clone().requires_grad_(True)
    sft_loss(a, labels).backward()
    b = LOGITS.clone().requires_grad_(True)
    fgit_loss(b, labels, mask, LOGITS, torch.tensor([[-100, 0, 0]]), mask, weighting="bt").backward()
    # gradient on the logit of the masked correct token (position 0 predicts label 1) is more negative
    assert b.grad[0, 0, 1] < a.grad[0, 0, 1] < 0


def test_missing_incorrect_inputs_is_an_error():
    with pytest.raises(ValueError, match="incorrect"):
        fgit_loss(LOGITS, torch.tensor([[-100, 1, 0]]), torch.tensor([[0, 2, 0]]), weighting="bt")
