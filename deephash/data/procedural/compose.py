"""One procedural image: a generator's image, layers on top of it, then a global photometric change."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from deephash.data.procedural.colour import lerp, to_uint8
from deephash.data.procedural.fields import log_uniform, smooth_noise
from deephash.data.procedural.generators import random_generator
from deephash.data.procedural.leaves import leaf_labels, paint_leaves, power_law
from deephash.data.procedural.text import draw_words

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _overlay_leaves(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A few large occluders on top, painted flat or filled with another generator's texture: objects in front
    of a background, with edges of their own."""
    height, width = image.shape[:2]
    count = int(rng.integers(2, 25))
    size = max(height, width)
    radii = power_law(rng, count, size * rng.uniform(0.03, 0.1), size * rng.uniform(0.15, 0.4))
    labels = leaf_labels(rng, height, width, radii)
    fill = random_generator(rng)(rng, height, width) if rng.random() < 0.4 else paint_leaves(rng, labels, count)
    return to_uint8(np.where(labels[..., None] > 0, fill, image))


def _overlay_text(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A few words on top, like captions or a watermark over a scene."""
    canvas = Image.fromarray(image)
    draw_words(rng, canvas, int(rng.integers(1, 10)))
    return np.array(canvas)


def _overlay_blend(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Another generator's image through a smooth random mask with soft to hard boundaries: regions of
    different material within one image."""
    height, width = image.shape[:2]
    other = random_generator(rng)(rng, height, width)
    field = smooth_noise(rng, height, width, int(rng.integers(2, 7)))
    mask = 0.5 + 0.5 * np.tanh(log_uniform(rng, 0.5, 15) * (field - rng.normal(0, 0.5)))
    return to_uint8(lerp(image.astype(np.float32), other, mask))


_OVERLAYS = (_overlay_leaves, _overlay_text, _overlay_blend)


def _gamma(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A random gamma through a 256-entry table (cheaper than a power per pixel)."""
    table = to_uint8(255 * (np.arange(256) / 255) ** log_uniform(rng, 0.6, 1.7))
    return table[image]


def _photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Global saturation, contrast, brightness and gamma drawn widely (some images nearly grey, some dark or
    washed out, some vivid) and sometimes a blur, so the descriptor cannot key on the generators' own tonal
    habits and sees both fine detail and smooth images."""
    saturation = rng.uniform(0, 0.15) if rng.random() < 0.15 else log_uniform(rng, 0.5, 1.8)
    contrast = log_uniform(rng, 0.5, 1.6)
    pixels = image.astype(np.float32)
    grey = pixels @ _LUMA
    level = float(grey.mean())
    offset = float(np.clip(level + rng.normal(0, 30), 30, 225)) - contrast * level  # never crushed to one colour
    # contrast about the mean level of (grey + saturation * (pixels - grey)) and a brightness shift, in 2 passes
    pixels *= contrast * saturation
    pixels += (grey * (contrast * (1 - saturation)) + offset)[..., None]
    image = _gamma(rng, to_uint8(pixels))
    if rng.random() < 0.15:
        blurred = Image.fromarray(image).filter(ImageFilter.GaussianBlur(log_uniform(rng, 0.5, 3.0)))
        image = np.array(blurred)
    return image


def procedural_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """uint8 [height, width, 3] RGB: one generator drawn by weight, in about 45% of images with one or two more
    layers on top (occluding shapes, text, or another texture through a soft mask), then a wide global
    photometric change. Composition gives structure no single generator makes (text over a gradient, leaves
    over noise)."""
    image = random_generator(rng)(rng, height, width)
    for _ in range(rng.choice(3, p=[0.55, 0.33, 0.12])):
        image = _OVERLAYS[rng.integers(len(_OVERLAYS))](rng, image)
    return _photometric(rng, image)
