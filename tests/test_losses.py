"""Losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from deephash.model.losses import classification_loss, intra_pair_loss, pick_negatives, triplet_loss


def test_intra_pair_loss_by_hand():
    first = torch.tensor([[1.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    second = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    # squared distances 1.0 and 0.0; margin 0.25 → max(0.75, 0) and max(-0.25, 0) → mean 0.375
    assert intra_pair_loss(first, second, margin=0.25).item() == pytest.approx(0.375)


def test_triplet_loss_by_hand():
    anchor = torch.tensor([[0.0, 0.0]])
    positive = torch.tensor([[1.0, 0.0]])  # d = 1
    negative = torch.tensor([[1.0, 1.0]])  # d = 2
    assert triplet_loss(anchor, positive, negative, margin=3.0).item() == pytest.approx(2.0)
    assert triplet_loss(anchor, positive, negative, margin=0.5).item() == pytest.approx(0.0)


def test_classification_loss_ignores_unknown_labels():
    logits = torch.tensor([[2.0, 0.0], [0.0, 5.0], [1.0, 1.0]])
    labels = torch.tensor([0, -1, 1])
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(0.5)) / 2
    assert classification_loss(logits, labels).item() == pytest.approx(expected, rel=1e-5)
    assert classification_loss(logits, torch.tensor([-1, -1, -1])).item() == 0.0


def test_negatives_are_of_another_known_category():
    categories = torch.tensor([0, 0, 1, 2, -1])
    for seed in range(20):
        negatives = pick_negatives(categories, torch.Generator().manual_seed(seed))
        for row, negative in enumerate(negatives.tolist()):
            assert categories[negative] != categories[row]
            assert categories[negative] != -1


def test_negative_is_self_when_no_other_category_exists():
    assert pick_negatives(torch.tensor([3, 3])).tolist() == [0, 1]
