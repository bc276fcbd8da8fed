"""The instance stage: generated views, the fitted quantisers and the learned projection, on a tiny stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deephash.model.encoder import FrameEncoder
from deephash.training.instance import (
    InstanceOptions,
    Projection,
    fit_instance_stage,
    fit_pca_itq,
    fit_split_whitened_itq,
    itq_rotation,
    normalise,
    train_projection,
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


def test_learned_projection_keeps_views_together_better_than_it_started():
    views = synthetic_views()
    train, test = views[:240], views[240:]
    start = fit_pca_itq(train, 16)
    options = InstanceOptions(code_bits=16, epochs=15, batch_size=64, lr=3e-3)
    learned, history = train_projection(train, options, start)
    assert history[-1]["infonce"] < history[0]["infonce"]
    assert view_recall(learned, test) > 0.5  # far above chance (1/60)
    assert abs(learned.bits(normalise(views[:, 0])).mean() - 0.5) < 0.1  # balanced bits


def test_fit_instance_stage_reports_every_quantiser(tmp_path):
    stage = fit_instance_stage(synthetic_views(), InstanceOptions(code_bits=16, epochs=3), 60)
    recall, projection = stage.recall, stage.projection
    assert set(recall) == {"pca", "pca_itq", "whitened_itq", "learned"}
    assert recall[stage.chosen] == max(recall.values())  # the projection installed is the best on held-out videos
    assert set(stage.baselines) == {"pca", "pca_itq", "whitened_itq"}
    projection.save(tmp_path / "p.npz")
    loaded = Projection.load(tmp_path / "p.npz")
    assert np.array_equal(loaded.planes, projection.planes) and np.array_equal(loaded.centre, projection.centre)
    assert loaded.change_bits == projection.change_bits == 0
    Projection(projection.centre, projection.planes, change_bits=3).save(tmp_path / "split.npz")
    assert Projection.load(tmp_path / "split.npz").change_bits == 3


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
    learned, _ = train_projection(views[:240], InstanceOptions(code_bits=16, epochs=3, batch_size=64), split)
    assert not learned.planes[:48, 12:].any() and not learned.planes[48:, :12].any()  # trained, still split
    assert not np.allclose(learned.planes, split.planes) and learned.change_bits == 4


def test_the_stage_fits_split_quantisers_only_for_a_descriptor_with_a_change_part():
    views = synthetic_views(dim=64)
    options = InstanceOptions(code_bits=16, epochs=1, change_shares=(0.125, 0.25))
    with_change = fit_instance_stage(views, options, 60, change_from=48)
    assert {"split_whitened_itq_2", "split_whitened_itq_4"} <= set(with_change.recall) & set(with_change.baselines)
    assert with_change.fitted["split_whitened_itq_4"].change_bits == 4
    assert not any(name.startswith("split") for name in fit_instance_stage(views, options, 60).recall)
    fitted = with_change.baselines
    assert with_change.learned_from == max(fitted, key=with_change.recall.get)  # trained from the best held out


def test_look_alikes_are_held_out_beside_the_last_videos_never_fitted():
    views, look_alikes = synthetic_views(dim=64), synthetic_views(count=40, dim=64, seed=7)
    options = InstanceOptions(code_bits=16, epochs=1)
    plain, with_alikes = (fit_instance_stage(views, options, 60, look_alikes=extra) for extra in (None, look_alikes))
    for name, projection in with_alikes.baselines.items():
        assert np.array_equal(projection.planes, plain.fitted[name].planes)  # fitted on the same videos
    for name, projection in with_alikes.fitted.items():
        assert with_alikes.recall[name] == view_recall(projection, np.concatenate([views[-60:], look_alikes]))


@pytest.mark.slow
def test_generated_views_go_through_the_real_sampler(tmp_path):
    plan = StreamPlan(videos=6, views=3, frames=12)
    spec = FrameSpec(3, 64)
    frames = render_views(2, plan, spec)
    assert frames.shape == (9, 3, 64, 64) and frames.dtype == np.uint8
    again = render_views(2, plan, spec)  # a function of its index (up to the encoder's rounding from run to run)
    assert np.abs(frames.astype(int) - again).mean() < 2
    encoder = FrameEncoder("mobilenetv3_small", instance_grid=2)
    views = view_descriptors(encoder, plan, spec, tmp_path / "views.npy")
    assert views.shape == (6, 3, 3, encoder.regional_dim) and np.isfinite(views.astype(np.float32)).all()


@pytest.mark.slow
def test_look_alike_groups_are_described_video_by_video(tmp_path):
    plan, spec = LookAlikePlan(groups=2, size=3, views=2, frames=12), FrameSpec(3, 64)
    frames = render_look_alikes(1, plan, spec)
    assert frames.shape == (3 * 2 * 3, 3, 64, 64) and frames.dtype == np.uint8
    encoder = FrameEncoder("mobilenetv3_small", instance_grid=2)
    views = view_descriptors(encoder, plan, spec, tmp_path / "alikes.npy")
    assert views.shape == (6, 2, 3, encoder.regional_dim)  # the groups' videos one after another
    alone = encoder(torch.from_numpy(frames[None, 6:9])).detach().numpy()[0, :, encoder.feature_dim :]
    assert np.allclose(views[4, 0], alone, atol=0.05 * np.abs(alone).max())  # group 1's second video, as uploaded


def test_the_builds_seed_reseeds_the_instance_stage_and_nothing_else_it_fits_on():
    from export.release import instance_stage

    views = synthetic_views(dim=64)
    first, again, other = (instance_stage(views, 16, 60, None, None, seed) for seed in (0, 0, 1))
    assert np.array_equal(first.fitted["whitened_itq"].planes, again.fitted["whitened_itq"].planes)
    assert first.recall == again.recall  # a seed's build is repeatable
    assert not np.allclose(first.fitted["whitened_itq"].planes, other.fitted["whitened_itq"].planes)  # ITQ's start
    assert np.array_equal(first.fitted["pca"].planes, other.fitted["pca"].planes)  # same videos, same PCA
