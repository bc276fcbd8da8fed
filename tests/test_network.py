"""The cascade: L2 head chosen by gathering equals running the predicted group's head explicitly;
codes are the thresholded hash layers, packed; the ONNX export computes the same outputs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from deephash.codes import unpack_bits
from deephash.errors import ModelError
from deephash.model.backbones import backbone_spec
from deephash.model.config import ModelConfig, Taxonomy
from deephash.model.network import ANCHOR_GAIN, DeepHashNet
from deephash.model.onnx import OnnxRunner, export_onnx
from deephash.model.pooling import video_descriptor_array
from deephash.training.instance import Projection

UNEVEN = Taxonomy(
    l1_names=("a", "b", "c"),
    l2_names=("a1", "a2", "b1", "c1", "c2", "c3"),
    l2_parent=(0, 0, 1, 2, 2, 2),
    extra={"scene": ("in", "out")},
)


@pytest.fixture(scope="module")
def small_model() -> DeepHashNet:
    torch.manual_seed(0)
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", frame_size=64, l1_bits=32, l2_bits=32)
    return DeepHashNet(config).eval()


def test_l2_head_of_predicted_group_by_gather_equals_explicit_loop(small_model):
    head = small_model.head
    features = torch.randn(16, 5, small_model.encoder.output_dim)
    with torch.no_grad():
        out = head(features)
        fused = (features[..., :1280] * head.fusion_weights()[None, :, None]).sum(dim=1)
        shared = head.shared(fused)
        projected = head.l2_feature_hash(head.feature_norm(fused))
        anchors = head.anchors(features)[:, 32:]
        trust = ((torch.softmax(out.l1_logits, dim=1).max(dim=1).values - 0.5) / 0.3).clamp(0, 1)
        for row in range(16):
            group = int(out.l1_logits[row].argmax())
            assert int(out.group[row]) == group
            learned = shared[row] @ head.l2_hash_weight[group] + head.l2_hash_bias[group] + projected[row]
            pre = anchors[row] + torch.tanh(learned) * trust[row]  # learned_reach 1, trust from 0.5 to 0.8
            assert torch.allclose(out.hash_pre[row, 32:], pre, atol=1e-5)
            width = len(UNEVEN.groups[group])
            logits = (
                torch.sigmoid(pre) @ head.l2_classifier_weight[group][:, :width]
                + head.l2_classifier_bias[group][:width]
            )
            assert torch.allclose(out.l2_logits[row, :width], logits, atol=1e-5)
            assert torch.all(out.l2_logits[row, width:] < -1e3)


def test_anchors_are_the_instance_projection_and_heads_move_bits_only_within_reach(small_model):
    head, encoder = copy.deepcopy(small_model.head), small_model.encoder
    features = torch.randn(64, 5, encoder.output_dim) * 3
    regional = video_descriptor_array(features[..., encoder.feature_dim :].numpy(), head.motion_weight)
    # two scales of 6 regions each; the frames' mean, then their change
    assert regional.shape[-1] == 2 * encoder.regional_dim == 2 * 2 * 6 * 1280
    rng = np.random.default_rng(0)
    projection = Projection(
        rng.standard_normal(regional.shape[-1]).astype(np.float32) * 0.01,
        rng.standard_normal((regional.shape[-1], 64)).astype(np.float32),
    )
    head.set_instance_projection(projection.centre, projection.planes, regional)
    with torch.no_grad():
        out, anchors = head(features), head.anchors(features)
    assert np.array_equal(projection.bits(regional), (anchors >= 0).numpy())  # the projection's bits
    scores = projection.scores(regional)
    expected = scores / scores.std() * ANCHOR_GAIN  # spread anchor_gain on the given videos
    assert np.allclose(expected, anchors.numpy(), atol=1e-3)
    offset = out.hash_pre - anchors
    assert torch.all(offset.abs() < head.reach)
    far = anchors.abs() >= head.reach
    assert far.any() and (~far).any()
    assert torch.equal((out.hash_pre >= 0)[far], (anchors >= 0)[far])  # the anchor decides these bits


def test_a_projection_fitted_for_another_descriptor_is_refused(small_model):
    head = copy.deepcopy(small_model.head)
    mean_only = head.instance_planes.shape[0] // 2  # a projection of the frames' mean alone (motion_weight 0)
    planes = np.zeros((mean_only, 64), dtype=np.float32)
    with pytest.raises(ModelError, match="motion_weight"):
        head.set_instance_projection(np.zeros(mean_only, dtype=np.float32), planes, np.ones((4, mean_only)))


def test_the_heads_never_move_the_anchor_only_bits():
    torch.manual_seed(1)
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", l1_bits=32, l2_bits=32, anchor_only_bits=8)
    model = DeepHashNet(config).eval()
    features = torch.randn(64, 5, model.encoder.output_dim) * 3
    with torch.no_grad():
        model.head.trust_from, model.head.trust_full = 0.0, 1e-6  # every row fully trusted: the heads have their say
        out, anchors = model.head(features), model.head.anchors(features)
    assert torch.equal(out.hash_pre[:, -8:], anchors[:, -8:])  # the change's bits are the instance stage's alone
    assert not torch.equal(out.hash_pre[:, -16:-8], anchors[:, -16:-8])  # the bits before them are moved
    with pytest.raises(ModelError, match="anchor_only_bits"):
        ModelConfig(taxonomy=UNEVEN, l1_bits=32, l2_bits=32, anchor_only_bits=33)


def test_heads_shape_the_code_in_proportion_to_the_l1_confidence(small_model):
    head = small_model.head
    features = torch.randn(64, 5, small_model.encoder.output_dim) * 3
    with torch.no_grad():
        confidence = torch.softmax(head(features).l1_logits, dim=1).max(dim=1).values
        low, high = confidence.quantile(0.25).item(), confidence.quantile(0.75).item()
        head.trust_from, head.trust_full = low, high  # a quarter of the rows untrusted, a quarter fully
        anchors, out = head.anchors(features), head(features)
        head.trust_from, head.trust_full = small_model.config.trust_from, small_model.config.trust_full
    untrusted, trusted = confidence <= low, confidence >= high
    assert untrusted.any() and trusted.any()
    assert torch.equal(out.hash_pre[untrusted], anchors[untrusted])  # unrecognised: the instance anchors
    assert not torch.equal(out.hash_pre[trusted], anchors[trusted])
    offsets = (out.hash_pre - anchors).abs()
    middle = ~untrusted & ~trusted
    assert torch.all(offsets[middle] < head.reach)
    assert offsets[middle].mean() < offsets[trusted].mean()


def test_outputs_are_packed_thresholded_bits_and_valid_categories(small_model):
    frames = torch.randint(0, 256, (6, 5, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        code, l1, l1_prob, l2, l2_prob, scene, scene_prob = small_model(frames)
        out = small_model.head(small_model.encoder(frames))
    assert code.dtype == torch.uint8 and code.shape == (6, 8)
    assert np.array_equal(unpack_bits(code.numpy()), (out.hash_pre >= 0).numpy().astype(np.uint8))
    parents = torch.tensor(UNEVEN.l2_parent)
    assert torch.equal(parents[l2], l1), "the L2 category always lies in the predicted L1 group"
    for prob in (l1_prob, l2_prob, scene_prob):
        assert torch.all((prob > 0) & (prob <= 1))
    assert set(scene.tolist()) <= {0, 1}


def test_fusion_weights_are_learned_and_normalised(small_model):
    weights = small_model.head.fusion_weights()
    assert weights.shape == (5,) and weights.sum().item() == pytest.approx(1.0)
    assert small_model.head.frame_logits.requires_grad


def test_onnx_export_matches_pytorch(small_model, tmp_path):
    model = copy.deepcopy(small_model)
    model.head.trust_from, model.head.trust_full = 0.0, 0.01  # the heads set bits of every video: compare them
    example = torch.zeros(2, 5, 3, 64, 64, dtype=torch.uint8)
    path = export_onnx(model, example, tmp_path / "m.onnx", model.output_names())
    frames = np.random.default_rng(0).integers(0, 256, (7, 5, 3, 64, 64), dtype=np.uint8)
    onnx_out = OnnxRunner(path).run(frames)
    with torch.no_grad():
        torch_out = dict(zip(model.output_names(), model(torch.from_numpy(frames))))
        pre = model.head(model.encoder(torch.from_numpy(frames))).hash_pre.numpy()
    # A random backbone's regional descriptors are nearly constant, so some anchors sit within float rounding
    # of the threshold; every other bit must agree.
    decided = np.abs(pre) > 1e-4
    assert decided.mean() > 0.5
    agreement = (unpack_bits(onnx_out["code"]) == unpack_bits(torch_out["code"].numpy()))[decided].mean()
    assert agreement >= 0.999
    for name in ("l1_id", "l2_id", "scene_id"):
        assert np.array_equal(onnx_out[name], torch_out[name].numpy())
    assert np.allclose(onnx_out["l1_prob"], torch_out["l1_prob"].numpy(), atol=1e-4)


def test_pretrained_backbone_sees_a_cat():
    """The shipped ImageNet weights really load: chelsea lands in a cat class (281-285)."""
    from skimage import data

    from deephash.data.families.frame_ops import resize
    from deephash.model.backbones import IMAGENET_MEAN, IMAGENET_STD

    backbone = backbone_spec("efficientnet_lite0").build(None).eval()
    image = resize(data.chelsea(), 224, 224).astype(np.float32) / 255.0
    tensor = torch.from_numpy((image - IMAGENET_MEAN) / IMAGENET_STD).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        probabilities = torch.softmax(backbone.imagenet_logits(tensor), dim=1)[0]
    assert 281 <= int(probabilities.argmax()) <= 285
    assert float(probabilities.max()) > 0.3


def test_unknown_backbone_is_a_clear_error():
    from deephash.errors import ModelError

    with pytest.raises(ModelError, match="known: efficientnet_lite0"):
        backbone_spec("resnet9000")
