"""The dead-leaves generator: occluding shapes with power-law sizes, also used for overlays and video sprites."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from deephash.data.procedural.colour import random_palette, to_uint8
from deephash.data.procedural.fields import grid, log_uniform, spectral_fields

_SLOTS = 24  # vertices per shape outline: enough for an ellipse to look smooth at these sizes


def power_law(rng: np.random.Generator, count: int, low: float, high: float) -> np.ndarray:
    """Radii with density ~ r^-k (k in [2, 3.5]) on [low, high] by inverse-CDF sampling: many small leaves
    and a few large ones, so edges occur at every scale as in natural images."""
    power = 1 - rng.uniform(2.0, 3.5)
    u = rng.random(count)
    return (low**power + u * (high**power - low**power)) ** (1 / power)


def unit_outlines(rng: np.random.Generator, count: int) -> np.ndarray:
    """``[count, 24, 2]`` outlines of radius about 1 around the origin: rotated ellipses, rectangles and random
    3-6-gons in a per-image mix. Polygons repeat vertices to fill the 24 slots, so one polygon call draws any."""
    kinds = rng.choice(3, count, p=rng.dirichlet(np.ones(3)))[:, None, None]
    aspect = rng.uniform(0.3, 1.0, (count, 1))
    turn = np.linspace(0, 2 * np.pi, _SLOTS, endpoint=False)
    ellipse = np.stack(np.broadcast_arrays(np.cos(turn), aspect * np.sin(turn)), axis=-1)
    corners = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * np.stack([np.ones_like(aspect), aspect], -1)
    rectangle = (corners / np.hypot(1, aspect)[:, :, None])[:, np.arange(_SLOTS) * 4 // _SLOTS]
    angles = np.sort(rng.uniform(0, 2 * np.pi, (count, 6)), axis=1)
    vertices = rng.uniform(0.5, 1.0, (count, 6, 1)) * np.stack([np.cos(angles), np.sin(angles)], -1)
    slots = np.arange(_SLOTS) * rng.integers(3, 7, (count, 1)) // _SLOTS
    polygon = np.take_along_axis(vertices, slots[..., None], axis=1)
    outlines = np.where(kinds == 0, ellipse, np.where(kinds == 1, rectangle, polygon))
    theta = rng.uniform(0, 2 * np.pi, (count, 1))
    x, y = outlines[..., 0], outlines[..., 1]
    return np.stack([np.cos(theta) * x - np.sin(theta) * y, np.sin(theta) * x + np.cos(theta) * y], -1)


def leaf_labels(rng: np.random.Generator, height: int, width: int, radii: np.ndarray) -> np.ndarray:
    """``[H, W]`` int32 map of the topmost leaf at each pixel (1..len(radii), 0 where none landed): leaves
    dropped one after another occlude the earlier ones."""
    count = len(radii)
    centres = rng.uniform(-0.05, 1.05, (count, 2)) * (width, height)
    outlines = centres[:, None, :] + radii[:, None, None] * unit_outlines(rng, count)
    canvas = Image.new("I", (width, height))
    draw = ImageDraw.Draw(canvas)
    for label, outline in enumerate(outlines.reshape(count, -1).tolist(), start=1):
        draw.polygon(outline, fill=label)
    return np.asarray(canvas)


def _leaf_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """``[count + 1, 3]``: leaves share a small palette with some jitter, like objects of a few materials."""
    palette = random_palette(rng, int(rng.integers(2, 10)))
    jitter = rng.normal(0, rng.uniform(0, 25), (count + 1, 3))
    return (palette[rng.integers(0, len(palette), count + 1)] + jitter).astype(np.float32)


def _leaf_offsets(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel the offset (dx, dy) from its leaf's centroid, and per label the leaf's extent (square root of
    its area), in ``grid`` units: per-leaf patterns are anchored at and scaled by their own leaf."""
    xs, ys = (np.broadcast_to(axis, labels.shape) for axis in grid(*labels.shape))
    flat = labels.ravel()
    area = np.maximum(np.bincount(flat, minlength=count + 1), 1)
    centre_x = (np.bincount(flat, xs.ravel(), count + 1) / area).astype(np.float32)
    centre_y = (np.bincount(flat, ys.ravel(), count + 1) / area).astype(np.float32)
    return xs - centre_x[labels], ys - centre_y[labels], np.sqrt(area) / max(labels.shape)


def _leaf_patterns(
    rng: np.random.Generator, labels: np.ndarray, count: int, gradient: bool, stripes: bool
) -> np.ndarray:
    """``[H, W]`` per-leaf linear gradients (lit surfaces) and/or gratings (striped materials)."""
    dx, dy, extent = _leaf_offsets(labels, count)
    pattern = np.zeros(labels.shape, np.float32)
    if gradient:
        tilt = (rng.normal(0, rng.uniform(0.2, 0.8), (2, count + 1)) / extent).astype(np.float32)
        pattern += tilt[0][labels] * dx + tilt[1][labels] * dy
    if stripes:
        freq = (rng.uniform(1, 8, (2, count + 1)) * rng.choice([-1, 1], (2, count + 1)) / extent).astype(np.float32)
        amplitude = (rng.uniform(0, 0.5, count + 1) * (rng.random(count + 1) < 0.7)).astype(np.float32)
        pattern += amplitude[labels] * np.sin(2 * np.pi * (freq[0][labels] * dx + freq[1][labels] * dy))
    return pattern


def _leaf_shading(rng: np.random.Generator, labels: np.ndarray, count: int) -> np.ndarray:
    """``[H, W]`` brightness factor: leaves may get their own gradient, their own grating and a share of a noise
    texture, so they are not all flat paint (each kind of fill in some images only)."""
    gradient, stripes, noise = rng.random(3) < (0.6, 0.3, 0.3)
    shading = np.ones(labels.shape, np.float32)
    if gradient or stripes:
        shading += _leaf_patterns(rng, labels, count, gradient, stripes)
    if noise:
        amplitude = rng.uniform(0, 0.4, count + 1).astype(np.float32)
        shading += amplitude[labels] * spectral_fields(rng, 1, *labels.shape, rng.uniform(1.0, 2.0))[0]
    return shading


def paint_leaves(rng: np.random.Generator, labels: np.ndarray, count: int) -> np.ndarray:
    """Float ``[H, W, 3]`` colours for a label map (background included)."""
    return _leaf_colours(rng, count)[labels] * _leaf_shading(rng, labels, count)[..., None]


def _covering_radii(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Power-law radii for as many leaves as it takes for their total area to reach 1.5-3 times the image
    (most pixels covered, as in the model), at most 800 leaves to bound the drawing time."""
    size = max(height, width)
    pool = power_law(rng, 800, max(1.0, size * log_uniform(rng, 0.005, 0.03)), size * rng.uniform(0.12, 0.5))
    covered = np.cumsum(0.5 * np.pi * pool**2)  # outlines fill about half their circumscribed circle
    count = np.searchsorted(covered, rng.uniform(1.5, 3.0) * height * width) + 1
    return pool[: max(count, 50)]


def dead_leaves(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """The dead-leaves model: occluding ellipses, rectangles and polygons with power-law sizes covering the image
    (one of the procedural families of Baradad et al.): occlusion edges, flat regions and every scale at once."""
    radii = _covering_radii(rng, height, width)
    labels = leaf_labels(rng, height, width, radii)
    return to_uint8(paint_leaves(rng, labels, len(radii)))
