"""Colours shared by the generators: random palettes and colour maps, blending, and conversion to uint8 values."""

from __future__ import annotations

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).astype(np.uint8)


def lerp(start: np.ndarray, end: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Colour ``[..., 3]`` between two colours, ``weight`` ``[...]`` in [0, 1]."""
    return start + (end - start) * weight[..., None]


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """RGB in [0, 255] from HSV arrays in [0, 1]: palettes are drawn in HSV so that hue spread, saturation and
    brightness can be varied independently."""
    k = (np.array([5.0, 3.0, 1.0]) + hue[..., None] * 6) % 6
    ramp = np.clip(np.minimum(k, 4 - k), 0, 1)
    return (value[..., None] * (1 - saturation[..., None] * ramp) * 255).astype(np.float32)


def random_palette(rng: np.random.Generator, count: int) -> np.ndarray:
    """``[count, 3]`` colours of one random scheme: the hue spread runs from a single hue to the whole wheel,
    saturation from grey to vivid and brightness from dark to light, so images range from muted to colourful."""
    hue = rng.random() + rng.uniform(0, rng.choice([0.03, 0.15, 0.4, 1.0]), count)
    saturation = rng.uniform(0.3, 1.0, count) * rng.choice([0.08, 0.4, 0.75, 1.0], p=[0.1, 0.2, 0.3, 0.4])
    darkest = rng.uniform(0, 0.6)
    value = rng.uniform(darkest, rng.uniform(darkest + 0.25, 1.0), count)
    return _hsv_to_rgb(hue % 1, saturation, value)


def colour_map(rng: np.random.Generator) -> np.ndarray:
    """``[256, 3]`` lookup table ramping through 2-5 palette colours at random stops, to colour a scalar field."""
    count = int(rng.integers(2, 6))
    stops = np.concatenate([[0.0], np.sort(rng.random(count - 2)), [1.0]])
    colours = random_palette(rng, count)
    levels = np.linspace(0, 1, 256)
    return np.stack([np.interp(levels, stops, colours[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def apply_map(lut: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Colour a field in [0, 1] through a ``[256, 3]`` lookup table."""
    return lut[(np.clip(field, 0, 1) * 255).astype(np.uint8)]


def colour_tuple(colour: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.clip(colour, 0, 255))
