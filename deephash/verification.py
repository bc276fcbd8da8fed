"""The verification descriptor: a short float embedding of a video's regional descriptor that re-ranks the 128-bit
scan's candidates and decides which of them are copies.

The 128-bit code is the sign of a 128-dimensional projection, and the sign is where most of its loss lies; a few
hundred whitened dimensions kept as numbers hold nearly all of the float descriptor's recall. The embedding is
fitted without labels on generated footage (learned discriminative whitening of the views' differences,
:func:`deephash.training.instance.whitened_directions`), L2-normalised, and stored per video as int8 with one
scale (:func:`quantise`): similarity is the dot product.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.errors import ModelError
from deephash.model.config import DescriptorSettings, refuse_other_descriptors

INT8_MAX = 127


def normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Embedding:
    """``embed(x) = normalise((normalise(x) - centre) @ planes)`` for video descriptors ``x``."""

    centre: np.ndarray  # float32 [D]
    planes: np.ndarray  # float32 [D, dims]
    descriptor: DescriptorSettings | None  # the settings of the descriptors it was fitted on (None: not recorded)

    @property
    def dims(self) -> int:
        return self.planes.shape[1]

    def check_fits(self, descriptor: DescriptorSettings) -> None:
        """Refuse a model whose descriptor is not the one this embedding was fitted on."""
        refuse_other_descriptors("verification embedding", self.descriptor, descriptor)

    def embed(self, descriptors: np.ndarray) -> np.ndarray:
        return normalise((normalise(descriptors) - self.centre) @ self.planes)

    def save(self, path: Path) -> None:
        if self.descriptor is None:
            raise ModelError("an embedding is saved with the descriptor settings it was fitted on")
        descriptor = json.dumps(self.descriptor.to_json())
        np.savez(path, centre=self.centre, planes=self.planes, descriptor=descriptor)

    @classmethod
    def load(cls, path: Path) -> Embedding:
        if not Path(path).is_file():
            raise ModelError(f"no verification embedding at {path}")
        with np.load(path) as data:
            descriptor = DescriptorSettings(**json.loads(str(data["descriptor"])))
            return cls(data["centre"].astype(np.float32), data["planes"].astype(np.float32), descriptor)


def fit_embedding(
    views: np.ndarray, dims: int, descriptor: DescriptorSettings, shrinkage: float = 0.1, pre_dims: int = 1024
) -> Embedding:
    """The embedding of ``dims`` dimensions fitted on generated views ``[N, V, D]`` (view 0 unedited)."""
    from deephash.training.instance import whitened_directions

    centre, planes, _ = whitened_directions(normalise(views), dims, shrinkage, pre_dims)
    return Embedding(centre.astype(np.float32), planes.astype(np.float32), descriptor)


def quantise(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 ``[N, dims]`` and float32 scales ``[N]`` with ``embeddings ≈ values * scales[:, None]``."""
    embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    scales = np.maximum(np.abs(embeddings).max(axis=1), 1e-12) / INT8_MAX
    values = np.clip(np.rint(embeddings / scales[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return values, scales.astype(np.float32)


def similarities(query: np.ndarray, values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Cosine of a float query embedding ``[dims]`` (or ``[Q, dims]``) with stored int8 rows."""
    stored = values.astype(np.float32) * np.asarray(scales, dtype=np.float32)[:, None]
    return np.asarray(query, dtype=np.float32) @ stored.T
