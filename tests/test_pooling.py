"""The regional GeM descriptor: hand-computed values, mirror invariance, and the encoder's feature layout; the
video descriptor made of a video's frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deephash.model.pooling import regional_gem, regional_regions, video_descriptor, video_descriptor_array
from tests.conftest import encoder_of


def test_one_cell_regions_give_the_cells_folded_left_right():
    maps = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # rows 1 2 3 / 4 5 6 / 7 8 9, a region per cell
    root2 = math.sqrt(2.0)
    expected = [2 * root2, 2, 5 * root2, 5, 8 * root2, 8]  # per row: (left + right)/2 · √2, then centre
    assert regional_gem(maps, 3)[0].tolist() == pytest.approx(expected)


def test_regions_overlap_as_adaptive_pooling_and_pool_by_generalised_mean():
    maps = torch.zeros(1, 1, 7, 7)
    maps[0, 0, 2, 3] = 3.0  # in row bins 0-3 and 2-5, the centre column bin 2-5 only
    descriptor = regional_gem(maps, 3).view(3, 2)
    one_hot_gem = (27.0 / 9) ** (1 / 3)  # one cell of 3 among the 3x3 = 9 of its region
    assert descriptor[:, 1].tolist() == pytest.approx([one_hot_gem, one_hot_gem, 1e-6], rel=1e-4)
    assert descriptor[:, 0].tolist() == pytest.approx([1e-6 * math.sqrt(2.0)] * 3, rel=1e-4)


def test_mirrored_frames_get_the_same_descriptor():
    maps = torch.rand(4, 16, 7, 7)
    assert torch.allclose(regional_gem(maps, 3), regional_gem(maps.flip(-1), 3), atol=1e-6)
    assert regional_gem(maps, 3).shape == (4, regional_regions(3) * 16) == (4, 96)
    assert regional_regions(2) == 2 and regional_regions(1) == 1


def test_video_descriptor_is_the_frames_mean_then_their_change_from_first_to_last():
    frames = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 5.0], [6.0, 0.0]])  # unit: a, b, c, b, c
    a, b, c = torch.tensor([0.6, 0.8]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])
    mean = (a + 2 * b + 2 * c) / 5
    change = (b + c) / 2 - (a + b) / 2  # the last two frames' mean minus the first two's
    assert torch.allclose(video_descriptor(frames, 0.0), mean)
    assert torch.allclose(video_descriptor(frames, 0.5), torch.cat([mean, 0.5 * change]))
    still = frames[:1].repeat(5, 1) * torch.tensor([[1.0], [2.0], [0.5], [3.0], [1.0]])  # one picture, any scale
    assert torch.allclose(video_descriptor(still, 1.0), torch.cat([a, torch.zeros(2)]))


def test_video_descriptor_of_an_array_matches_the_tensors_in_any_chunking():
    frames = np.random.default_rng(0).random((7, 3, 5, 12)).astype(np.float16)
    expected = video_descriptor(torch.from_numpy(frames.astype(np.float32)), 1.0).numpy()
    for chunk in (1, 4, 1024):
        got = video_descriptor_array(frames, 1.0, chunk=chunk)
        assert got.dtype == np.float32 and got.shape == (7, 3, 24)
        assert np.allclose(got, expected, atol=1e-6)


def test_encoder_features_are_the_global_average_then_the_regional_descriptor():
    torch.manual_seed(0)
    encoder = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=1, second_scale_pool=1).eval()
    frames = torch.randint(0, 256, (2, 3, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        features = encoder(frames)
        images = (frames.flatten(0, 1).float() - encoder.mean) / encoder.std
        maps = encoder.backbone.feature_map(images)
    assert features.shape == (2, 3, encoder.output_dim) == (2, 3, 1280 * 3)
    assert torch.allclose(features[..., :1280].flatten(0, 1), encoder.backbone(images), atol=1e-5)
    assert torch.allclose(features[..., 1280:].flatten(0, 1), regional_gem(maps, 2), atol=1e-5)
    assert encoder.global_part(features.numpy()).shape == (2, 3, 1280)


def test_the_low_pass_feeds_the_backbone_frames_averaged_over_pool_pixels_and_scaled_back_up():
    smooth = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=4, second_scale_pool=1).eval()
    sharp = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=1, second_scale_pool=1).eval()
    frames = torch.randint(0, 256, (1, 2, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    blocks = frames.float().view(1, 2, 3, 16, 4, 16, 4).mean(dim=(4, 6))  # each 4x4 block's mean
    upsampled = torch.nn.functional.interpolate(blocks.flatten(0, 1), size=(64, 64), mode="bilinear")
    with torch.no_grad():
        expected = sharp.backbone((upsampled - sharp.mean) / sharp.std)
        features = smooth(frames)[0, :, : smooth.feature_dim]
        unsmoothed = sharp(frames)[0, :, : sharp.feature_dim]
    scale = float(expected.abs().mean())
    assert scale > 0.01  # the pretrained backbone: features worth comparing
    assert torch.allclose(features, expected, atol=1e-4 * scale)
    assert (features - unsmoothed).abs().mean() > 0.1 * scale  # noise frames lose their detail
    assert "detail_pool=4" in repr(smooth)  # feature caches key on the repr: low-passed features are not reused


def test_the_second_scale_describes_the_frames_averaged_down_beside_the_full_size_ones():
    two_scales = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=3, second_scale_pool=2).eval()
    one_scale = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=3, second_scale_pool=1).eval()
    halved = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=1, second_scale_pool=1).eval()
    small = torch.randint(0, 256, (1, 2, 3, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    frames = small.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)  # 2x2 blocks: averaging gives `small`
    with torch.no_grad():
        both, full, coarse = (
            encoder(video)[0] for encoder, video in ((two_scales, frames), (one_scale, frames), (halved, small))
        )
    part = one_scale.regional_dim
    assert two_scales.regional_dim == 2 * part and two_scales.output_dim == two_scales.feature_dim + 2 * part
    assert torch.allclose(both[:, : two_scales.feature_dim], full[:, : one_scale.feature_dim], atol=1e-5)
    regional = both[:, two_scales.feature_dim :]
    expected_full = torch.nn.functional.normalize(full[:, one_scale.feature_dim :], dim=1)
    expected_coarse = 0.5 * torch.nn.functional.normalize(coarse[:, halved.feature_dim :], dim=1)
    assert torch.allclose(regional[:, :part], expected_full, atol=1e-5)
    assert torch.allclose(regional[:, part:], expected_coarse, atol=1e-5)  # not low-passed again: 24 px at 48
    assert "second_scale=(2, 0.5)" in repr(two_scales)  # feature caches key on the repr


def test_the_config_is_the_one_source_of_the_descriptor_settings_and_refuses_fields_it_does_not_know():
    from deephash.errors import ModelError
    from deephash.model.config import DescriptorSettings, ModelConfig, Taxonomy

    config = ModelConfig(taxonomy=Taxonomy(("a",), ("b",), (0,)))
    assert config.descriptor == DescriptorSettings.default()
    assert (config.detail_pool, config.second_scale_pool) == (3, 2)
    assert encoder_of("efficientnet_lite0").settings == config.descriptor
    with pytest.raises(ModelError, match="does not know: anchor_gain"):
        ModelConfig.from_json({**config.to_json(), "anchor_gain": 1.5})


def test_onnx_encoder_computes_the_same_regional_descriptor_as_pytorch(clips):
    """The exported encoder (what the feature caches, ONNX Runtime and Triton run) pools the same regions:
    bounds computed inside the traced graph once used ONNX's truncating division and drew other bins."""
    from deephash.features import BackboneRunner
    from deephash.video import FrameSpec, sample_frames

    encoder = encoder_of("efficientnet_lite0", detail_pool=3, second_scale_pool=2).eval()
    frames = sample_frames(clips["bikes"], FrameSpec(2)).frames[None]
    with torch.no_grad():
        expected = encoder(torch.from_numpy(frames)).numpy()
    exported = BackboneRunner(encoder)(frames)
    regional = expected[..., encoder.feature_dim :]
    assert np.allclose(np.linalg.norm(regional, axis=-1), np.sqrt(1 + 0.5**2))  # two unit scales, the second at 0.5
    scale = np.abs(regional).mean()
    assert np.allclose(exported, expected, atol=1e-3 * scale)
