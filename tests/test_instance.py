"""The instance stage: generated views and the fitted projection, on a tiny stream."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from deephash.errors import ModelError
from deephash.model.config import DescriptorSettings
from deephash.training.instance import (
    InstanceOptions,
    Projection,
    fit_instance_stage,
    fit_split_whitened_itq,
    itq_rotation,
    normalise,
    view_recall,
)
from deephash.training.instance_data import (
    LookAlikePlan,
    StreamPlan,
    render_look_alikes,
    render_views,
    view_descriptors,
)
from deephash.video import FrameSpec
from tests.conftest import encoder_of


def synthetic_views(count: int = 300, dim: int = 64, views: int = 3, seed: int = 0) -> np.ndarray:
    """Descriptors of ``count`` instances: a shared direction per instance plus per-view noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, 1, dim))
    return (centres + 0.4 * rng.standard_normal((count, views, dim))).astype(np.float32) + 3.0


def test_itq_rotation_is_orthogonal_and_loses_less_in_the_sign():
    data = np.random.default_rng(1).standard_normal((500, 16)).astype(np.float32) @ np.diag(np.linspace(3, 0.3, 16))
    rotation = itq_rotation(data, iterations=30)
    assert np.allclose(rotation @ rotation.T, np.eye(16), atol=1e-4)
    before = np.square(np.sign(data) - data).sum()
    after = np.square(np.sign(data @ rotation) - data @ rotation).sum()
    assert after < before


DESCRIPTOR = DescriptorSettings.default()


def test_the_stage_fits_the_split_quantiser_for_a_change_part_and_reports_it_held_out(tmp_path):
    views = synthetic_views(dim=64)
    options = InstanceOptions(code_bits=16)
    split = fit_instance_stage(views, options, 60, DESCRIPTOR, change_from=48)
    assert split.name == "split_whitened_itq_2" and split.projection.change_bits == 2  # 1/8 of the bits
    assert split.held_out_recall == view_recall(split.projection, views[-60:]) > 0.5  # chance: 1/60
    plain = fit_instance_stage(views, options, 60, DESCRIPTOR)
    assert plain.name == "whitened_itq" and plain.projection.change_bits == 0
    split.projection.save(tmp_path / "p.npz")
    loaded = Projection.load(tmp_path / "p.npz")
    assert np.array_equal(loaded.planes, split.projection.planes) and loaded.change_bits == 2
    assert loaded.descriptor == DESCRIPTOR


def test_a_projection_fitted_on_other_descriptors_is_refused(tmp_path):
    projection = fit_instance_stage(synthetic_views(dim=64), InstanceOptions(code_bits=16), 60, DESCRIPTOR).projection
    projection.check_fits(DESCRIPTOR)
    with pytest.raises(ModelError, match=r"detail_pool 3 \(model: 1\)"):
        projection.check_fits(replace(DESCRIPTOR, detail_pool=1))
    np.savez(tmp_path / "old.npz", centre=projection.centre, planes=projection.planes, change_bits=0)
    with pytest.raises(ModelError, match="does not record the descriptor"):
        Projection.load(tmp_path / "old.npz")


def test_split_quantiser_gives_each_part_its_own_bits_exactly():
    mean_part, change_part = synthetic_views(dim=48, seed=1), 0.3 * synthetic_views(dim=16, seed=2) - 0.9
    views = np.concatenate([mean_part, change_part], axis=-1)  # the change part weighs less, as in a video's
    split = fit_split_whitened_itq(views, 16, change_from=48, change_bits=4)
    assert split.planes.shape == (64, 16)
    assert not split.planes[:48, 12:].any() and not split.planes[48:, :12].any()  # block-diagonal
    x = normalise(views)  # each part as it lies in the normalised whole
    scores = split.scores(views)
    first = (x[..., :48] - split.centre[:48]) @ split.planes[:48, :12]
    last = (x[..., 48:] - split.centre[48:]) @ split.planes[48:, 12:]
    assert np.allclose(scores, np.concatenate([first, last], axis=-1), atol=1e-5)
    assert view_recall(split, views[240:]) > 0.5  # views of one instance stay together
    change_only = change_part.copy()
    change_only[:, 1:] = change_only[:, :1]  # views that differ in the mean part alone keep the change bits
    moved = np.concatenate([mean_part, change_only], axis=-1)
    assert (split.bits(moved)[:, 1:, 12:] == split.bits(moved)[:, :1, 12:]).mean() > 0.95
    assert split.change_bits == 4  # the cascade keeps these bits as they are


def test_look_alikes_are_held_out_beside_the_last_videos_never_fitted():
    views, look_alikes = synthetic_views(dim=64), synthetic_views(count=40, dim=64, seed=7)
    options = InstanceOptions(code_bits=16)
    plain = fit_instance_stage(views, options, 60, DESCRIPTOR, change_from=48)
    with_alikes = fit_instance_stage(views, options, 60, DESCRIPTOR, change_from=48, look_alikes=look_alikes)
    assert np.array_equal(with_alikes.projection.planes, plain.projection.planes)  # fitted on the same videos
    held_out = np.concatenate([views[-60:], look_alikes])
    assert with_alikes.held_out_recall == view_recall(with_alikes.projection, held_out) != plain.held_out_recall


@pytest.mark.slow
def test_generated_views_go_through_the_real_sampler(tmp_path):
    plan = StreamPlan(videos=6, views=3, frames=12)
    spec = FrameSpec(3, 64)
    frames = render_views(2, plan, spec)
    assert frames.shape == (9, 3, 64, 64) and frames.dtype == np.uint8
    again = render_views(2, plan, spec)  # a function of its index (up to the encoder's rounding from run to run)
    assert np.abs(frames.astype(int) - again).mean() < 2
    encoder = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=1, second_scale_pool=1)
    views = view_descriptors(encoder, plan, spec, tmp_path / "views.npy")
    assert views.shape == (6, 3, 3, encoder.regional_dim) and np.isfinite(views.astype(np.float32)).all()


@pytest.mark.slow
def test_look_alike_groups_are_described_video_by_video(tmp_path):
    plan, spec = LookAlikePlan(groups=2, size=3, views=2, frames=12), FrameSpec(3, 64)
    frames = render_look_alikes(1, plan, spec)
    assert frames.shape == (3 * 2 * 3, 3, 64, 64) and frames.dtype == np.uint8
    encoder = encoder_of("efficientnet_lite0", instance_grid=2, detail_pool=1, second_scale_pool=1)
    views = view_descriptors(encoder, plan, spec, tmp_path / "alikes.npy")
    assert views.shape == (6, 2, 3, encoder.regional_dim)  # the groups' videos one after another
    alone = encoder(torch.from_numpy(frames[None, 6:9])).detach().numpy()[0, :, encoder.feature_dim :]

    def cosine(a, b):  # per frame: views are rendered anew, so the same up to the encoder's rounding
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)

    assert cosine(views[4, 0], alone).min() > 0.9  # group 1's second video, as uploaded
    assert cosine(views[4, 0], alone).mean() > cosine(views[3, 0], alone).mean()  # not its look-alike


def test_the_builds_seed_reseeds_the_instance_stage_and_nothing_else_it_fits_on():
    from export.release import instance_stage

    views = synthetic_views(dim=64)
    first, again, other = (instance_stage(views, 16, 60, DESCRIPTOR, 48, None, seed) for seed in (0, 0, 1))
    assert np.array_equal(first.projection.planes, again.projection.planes)  # a seed's build is repeatable
    assert first.held_out_recall == again.held_out_recall
    assert not np.allclose(first.projection.planes, other.projection.planes)  # ITQ's start
    assert np.array_equal(first.projection.centre, other.projection.centre)  # fitted on the same videos
