"""The plain baseline every trained model must beat: SimHash of mean-pooled pretrained features.

Bits = sign of random Gaussian projections of the (centred) mean of the T frame features — no training,
same code length. Centring uses the mean feature of a reference set (the database), because ReLU6
features are all non-negative and uncentred projections would give nearly constant bits.
"""

from __future__ import annotations

import numpy as np

from deephash.codes import pack_bits


def hyperplanes(feature_dim: int, code_bits: int, seed: int = 0) -> np.ndarray:
    """``[F, L]`` Gaussian hyperplanes (seed 0 for the baseline and for the model's anchors)."""
    return np.random.default_rng(seed).standard_normal((feature_dim, code_bits))


class SimHash:
    def __init__(self, reference_features: np.ndarray, code_bits: int, seed: int = 0) -> None:
        pooled = reference_features.mean(axis=1)
        self.centre = pooled.mean(axis=0)
        self.planes = hyperplanes(pooled.shape[1], code_bits, seed)

    def codes(self, features: np.ndarray) -> np.ndarray:
        """``[N, T, F]`` frame features → packed codes ``[N, L/8]``."""
        return pack_bits((features.mean(axis=1) - self.centre) @ self.planes >= 0)
