"""Procedural training imagery: right shapes, reproducible per seed, distinct across seeds, varied, smooth videos."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from deephash.data import procedural
from deephash.data.procedural import GENERATORS, look_alike_videos, procedural_image, procedural_video

SIZES = [(64, 64), (90, 160), (48, 33)]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_registry_lists_the_five_generators():
    assert set(GENERATORS) == {"dead_leaves", "spectral_noise", "gradients", "text", "shapes_scene"}


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_every_generator_makes_non_constant_rgb_images(name, height, width):
    for seed in range(3):
        image = GENERATORS[name](_rng(seed), height, width)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        assert image.std() > 1.0, f"{name} seed {seed} is flat"


@pytest.mark.parametrize(("height", "width"), [*SIZES, (256, 256), (17, 23)])
def test_image_shape_and_dtype(height, width):
    image = procedural_image(_rng(0), height, width)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8


def test_same_seed_same_image_and_video():
    assert np.array_equal(procedural_image(_rng(5), 90, 160), procedural_image(_rng(5), 90, 160))
    first, second = procedural_video(_rng(5), 4, 48, 64), procedural_video(_rng(5), 4, 48, 64)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_different_seeds_give_clearly_different_images():
    images = [procedural_image(_rng(seed), 64, 64) for seed in range(12)]
    differences = [_mean_abs(a, b) for a, b in zip(images, images[1:])]
    assert min(differences) > 5.0
    assert np.mean(differences) > 30.0


def test_images_are_diverse_in_brightness_contrast_and_colour():
    images = np.stack([procedural_image(_rng(1000 + seed), 48, 48) for seed in range(64)]).astype(np.float32)
    brightness = images.mean(axis=(1, 2, 3))
    contrast = images.std(axis=(1, 2, 3))
    colourfulness = (images.max(axis=-1) - images.min(axis=-1)).mean(axis=(1, 2))
    assert brightness.std() > 25.0 and np.ptp(brightness) > 120.0
    assert contrast.std() > 8.0 and contrast.min() > 1.0
    assert (colourfulness < 8.0).sum() >= 2, "some images should be nearly grey"
    assert (colourfulness > 40.0).sum() >= 8, "some images should be very colourful"
    assert images.mean(axis=(1, 2)).std(axis=0).min() > 25.0  # mean colours spread on every channel


@pytest.mark.parametrize(("frames", "height", "width"), [(10, 64, 96), (1, 32, 32), (3, 90, 160)])
def test_video_shape_and_dtype(frames, height, width):
    video = procedural_video(_rng(1), frames, height, width)
    assert len(video) == frames
    assert all(frame.shape == (height, width, 3) and frame.dtype == np.uint8 for frame in video)


def test_video_changes_smoothly_and_differs_between_seeds():
    videos = [np.stack(procedural_video(_rng(seed), 8, 64, 96)).astype(np.float32) for seed in range(8)]
    consecutive = np.array([np.abs(np.diff(video, axis=0)).mean() for video in videos])
    between = np.array([_mean_abs(a[0], b[0]) for a, b in zip(videos, videos[1:])])
    assert consecutive.mean() < 0.2 * between.mean()
    assert consecutive.max() < between.min()
    assert all(np.abs(video[-1] - video[0]).mean() > 0.1 for video in videos), "the camera always moves"


def test_look_alikes_show_one_scene_in_different_shots():
    groups = [look_alike_videos(_rng(seed), 3, 6, 64, 96) for seed in range(6)]
    groups = [[np.stack(video).astype(np.float32) for video in group] for group in groups]
    assert all(len(group) == 3 and group[0].shape == (6, 64, 96, 3) for group in groups)
    colours = np.array([[video.mean(axis=(0, 1, 2)) for video in group] for group in groups])  # [group, video, rgb]
    within = np.abs(colours[:, :, None] - colours[:, None, :]).sum(axis=-1)[:, [0, 0, 1], [1, 2, 2]]
    between = np.abs(colours[:-1, 0] - colours[1:, 0]).sum(axis=-1)
    assert np.median(within) < 0.5 * np.median(between)  # one scene: alike on average
    assert all(_mean_abs(group[0][0], group[1][0]) > 5.0 for group in groups)  # but not the same shot


def test_uses_no_real_photos():
    """Training imagery must be procedural only: the package imports no media library or sample data."""
    modules = set()
    for path in Path(procedural.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module)
    modules = {module for module in modules if not module.startswith(f"{procedural.__name__}.")}
    imported = {module.split(".")[0] for module in modules}
    assert imported <= {"__future__", "string", "collections", "dataclasses", "functools", "numpy", "scipy", "PIL"}
