"""Class-imbalance weighting and masking of unannotated frames in the training loss."""

import numpy as np
import pytest
import torch

from model.network import au_loss, positive_weights


def test_positive_weight_is_negatives_over_positives():
    # AU1: 1 positive, 3 negatives; AU2: 2 and 2; the -1 frame is ignored
    labels = np.array([[1, 1], [0, 1], [0, 0], [0, 0], [-1, -1]])
    assert positive_weights(labels, cap=20).tolist() == [3.0, 1.0]


def test_positive_weight_is_capped_and_neutral_without_positives():
    labels = np.array([[1, 0]] + [[0, 0]] * 99)
    assert positive_weights(labels, cap=20).tolist() == [20.0, 1.0]


def test_unannotated_pairs_do_not_change_the_loss():
    labels = torch.tensor([[1, -1], [0, 1]])
    weights = torch.tensor([2.0, 1.0])
    logits = torch.randn(2, 2, 2)
    changed = logits.clone()
    changed[0, 1] = torch.tensor([5.0, -5.0])  # the -1 pair
    assert au_loss(logits, labels, weights) == pytest.approx(au_loss(changed, labels, weights))


def test_a_missed_positive_pulls_harder_than_an_equally_wrong_negative():
    weights = torch.tensor([4.0])
    # frame 1: AU present, network says absent; frame 2: absent, network says present
    logits = torch.tensor([[[2.0, -2.0]], [[-2.0, 2.0]]], requires_grad=True)
    au_loss(logits, torch.tensor([[1], [0]]), weights).backward()
    pull = logits.grad.abs().sum(dim=(1, 2))
    assert pull[0] == pytest.approx(4 * pull[1])


def test_a_fully_unannotated_batch_gives_zero_loss_and_a_gradient():
    logits = torch.randn(3, 2, 2, requires_grad=True)
    loss = au_loss(logits, torch.full((3, 2), -1), torch.ones(2))
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad is not None
