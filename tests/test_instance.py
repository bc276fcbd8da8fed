"""The instance stage: generated views, the fitted quantisers and the learned projection, on a tiny stream."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.model.network import FrameEncoder
from deephash.training.instance import (
    InstanceOptions,
    Projection,
    fit_instance_stage,
    fit_pca_itq,
    itq_rotation,
    normalise,
    train_projection,
    view_recall,
)
from deephash.training.instance_data import StreamPlan, render_views, view_descriptors
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
