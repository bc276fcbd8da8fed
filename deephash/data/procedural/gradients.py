"""The gradients generator: colour ramps under gratings, sometimes warped."""

from __future__ import annotations

import numpy as np

from deephash.data.procedural.colour import apply_map, colour_map, lerp, random_palette, to_uint8
from deephash.data.procedural.fields import grid, log_uniform, smooth_noise


def _warp(
    rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates displaced by a smooth random field, bending straight stripes into wavy, marbled ones."""
    strength, cells = log_uniform(rng, 0.005, 0.08), int(rng.integers(2, 8))
    return (
        xs + strength * smooth_noise(rng, height, width, cells),
        ys + strength * smooth_noise(rng, height, width, cells),
    )


def _ramp(rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A linear or radial ramp in [0, 1] across the image."""
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xs + np.sin(angle) * ys
    else:
        centre = rng.uniform(-0.6, 0.6, 2)
        ramp = np.hypot(xs - centre[0], ys - centre[1]) ** rng.uniform(0.5, 2)
    ramp = np.broadcast_to(ramp, np.broadcast_shapes(xs.shape, ys.shape))
    return (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)


def _grating(rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A periodic pattern in [0, 1] at a random frequency and angle: stripes, checkers, a sinusoid or rings."""
    angle, freq = rng.uniform(0, np.pi), log_uniform(rng, 2, 48)
    u = (np.cos(angle) * xs + np.sin(angle) * ys) * freq
    v = (np.cos(angle) * ys - np.sin(angle) * xs) * freq
    kind = rng.choice(4)
    if kind == 0:
        return (u % 1 < rng.uniform(0.2, 0.8)).astype(np.float32)
    if kind == 1:
        return ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    if kind == 2:
        return 0.5 + 0.5 * np.sin(2 * np.pi * u)
    centre = rng.uniform(-0.5, 0.5, 2)
    return 0.5 + 0.5 * np.sin(2 * np.pi * freq * np.hypot(xs - centre[0], ys - centre[1]))


def gradients(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear or radial colour ramp under one or two gratings (plaid), often bent by a smooth displacement:
    sharp regular edges and smooth shading, which noise and leaves lack."""
    xs, ys = grid(height, width)
    if rng.random() < 0.5:
        xs, ys = _warp(rng, xs, ys, height, width)
    ramp = apply_map(colour_map(rng), _ramp(rng, xs, ys))
    pattern = _grating(rng, xs, ys)
    if rng.random() < 0.3:
        pattern = pattern * (0.5 + 0.5 * _grating(rng, xs, ys))
    overlay = random_palette(rng, 1)[0] if rng.random() < 0.5 else apply_map(colour_map(rng), 1 - _ramp(rng, xs, ys))
    return to_uint8(lerp(ramp, overlay, pattern * rng.uniform(0.2, 1.0)))
