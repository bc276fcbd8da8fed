"""The spectral-noise generator: coloured 1/f^alpha noise, plain or reshaped into ridges, blobs or terraces."""

from __future__ import annotations

import numpy as np

from deephash.data.procedural.colour import apply_map, colour_map, random_palette, to_uint8
from deephash.data.procedural.fields import log_uniform, spectral_fields


def _reshape_field(rng: np.random.Generator, field: np.ndarray) -> np.ndarray:
    """Map a field in [0, 1] to ridges, blobs (camouflage), terraces (contour map) or leave it as clouds."""
    style = rng.choice(4)
    if style == 1:
        return 1 - np.abs(2 * field - 1)
    if style == 2:
        return 0.5 + 0.5 * np.tanh(log_uniform(rng, 2, 20) * (field - 0.5))
    if style == 3:
        levels = int(rng.integers(3, 9))
        return np.floor(field * levels) / (levels - 1)
    return field


def _noise_channels(rng: np.random.Generator, height: int, width: int, alpha: float) -> np.ndarray:
    """Three noise fields mixed into RGB by a random matrix: a shared luminance part plus chroma parts of
    random strength, from grey clouds to colourful ones."""
    fields = spectral_fields(rng, 3, height, width, alpha)
    mixing = np.zeros((3, 3), np.float32)
    mixing[:, 0] = rng.uniform(0.3, 1.0)
    mixing += rng.normal(0, rng.uniform(0.05, 0.7), (3, 3))
    mixing *= 255 * rng.uniform(0.1, 0.35) / np.abs(mixing).sum(axis=1).max()
    base = random_palette(rng, 1)[0]
    return to_uint8(base + np.tensordot(fields, mixing, axes=(0, 1)))


def spectral_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Coloured 1/f^alpha noise (alpha in [1, 2.5]: fine grain to smooth clouds), either three mixed channels or
    one field through a random colour map, sometimes reshaped into ridges, blobs or terraces."""
    alpha = rng.uniform(1.0, 2.5)
    if rng.random() < 0.4:
        return _noise_channels(rng, height, width, alpha)
    field = np.clip(0.5 + spectral_fields(rng, 1, height, width, alpha)[0] * rng.uniform(0.12, 0.35), 0, 1)
    return to_uint8(apply_map(colour_map(rng), _reshape_field(rng, field)))
