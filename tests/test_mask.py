"""Category masks (Eq. 5) against hand-built weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deephash.codes import unpack_bits
from deephash.errors import ModelError
from deephash.mask import CategoryMask, top_bits
from deephash.model.config import ModelConfig
from deephash.model.network import CascadeHead
from tests.test_network import UNEVEN


def test_top_bits_keeps_largest_magnitudes():
    weights = np.array([[0.1, -0.9, 0.5, 0.0], [0.3, 0.3, -0.3, 0.2]])
    assert top_bits(weights, 0.5).tolist() == [[False, True, True, False], [True, True, False, False]]
    assert top_bits(weights, 1.0).all()


def test_mask_from_head_uses_each_heads_classifier():
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", l1_bits=32, l2_bits=32)
    head = CascadeHead(config, feature_dim=4, regional_dim=8)
    with torch.no_grad():
        head.l1_classifier.weight.zero_()
        head.l1_classifier.weight[0, :2] = 1.0  # L1 category 0 cares about bits 0, 1
        head.l2_classifier_weight.zero_()
        head.l2_classifier_weight[2, 30:32, 1] = -5.0  # group c, local 1 = global L2 "c2" (id 4): bits 30, 31
    mask = CategoryMask.from_head(head, ratio=2 / 32)
    assert mask.l1.shape == (3, 32) and mask.l2.shape == (6, 32)
    assert mask.l1[0].tolist() == [True, True] + [False] * 30
    assert mask.l2[4].tolist() == [False] * 30 + [True, True]
    bits = unpack_bits(mask.for_query(0, 4))
    assert np.flatnonzero(bits).tolist() == [0, 1, 62, 63]
    assert mask.for_queries(np.array([0, 0]), np.array([4, 4])).shape == (2, 8)


def test_the_mask_never_keeps_the_bits_the_heads_cannot_move():
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", l1_bits=32, l2_bits=32, anchor_only_bits=4)
    head = CascadeHead(config, feature_dim=4, regional_dim=8)
    with torch.no_grad():
        head.l2_classifier_weight[:, 28:32] = 10.0  # the classifier leans on them most
    for ratio in (0.25, 1.0):
        mask = CategoryMask.from_head(head, ratio)
        assert not mask.l2[:, 28:].any() and mask.l2[:, :28].any() and mask.l1.any()
    assert CategoryMask.from_head(head, 1.0).l2[:, :28].all()


def test_mask_round_trips_and_rejects_bad_input(tmp_path):
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", l1_bits=32, l2_bits=32)
    mask = CategoryMask.from_head(CascadeHead(config, feature_dim=4, regional_dim=8), ratio=0.5)
    mask.save(tmp_path / "mask.npz")
    loaded = CategoryMask.load(tmp_path / "mask.npz")
    assert loaded.ratio == 0.5 and np.array_equal(loaded.l1, mask.l1) and np.array_equal(loaded.l2, mask.l2)
    assert unpack_bits(loaded.for_query(1, 2)).sum() == 32
    with pytest.raises(ModelError):
        mask.for_query(0, 99)
    with pytest.raises(ModelError):
        CategoryMask.from_head(CascadeHead(config, feature_dim=4, regional_dim=8), ratio=0.0)
