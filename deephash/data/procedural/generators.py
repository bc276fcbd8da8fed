"""The registry of image generators and the weighted draw of one of them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deephash.data.procedural.gradients import gradients
from deephash.data.procedural.leaves import dead_leaves
from deephash.data.procedural.noise import spectral_noise
from deephash.data.procedural.scene import shapes_scene
from deephash.data.procedural.text import text

ImageGenerator = Callable[[np.random.Generator, int, int], np.ndarray]

GENERATORS: dict[str, ImageGenerator] = {
    "dead_leaves": dead_leaves,
    "spectral_noise": spectral_noise,
    "gradients": gradients,
    "text": text,
    "shapes_scene": shapes_scene,
}
# how often procedural_image starts from each generator: dead leaves most, as occlusion is what copies are full of
_WEIGHTS = {"dead_leaves": 0.3, "spectral_noise": 0.2, "gradients": 0.15, "text": 0.15, "shapes_scene": 0.2}
_NAMES = tuple(GENERATORS)
_PROBABILITIES = np.array([_WEIGHTS[name] for name in _NAMES]) / sum(_WEIGHTS.values())


def random_generator(rng: np.random.Generator) -> ImageGenerator:
    return GENERATORS[_NAMES[rng.choice(len(_NAMES), p=_PROBABILITIES)]]
