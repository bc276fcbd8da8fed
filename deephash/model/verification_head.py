"""The model's verification output: the video descriptor's whitened embedding (:mod:`deephash.verification`),
computed in the graph so that every backend gives it.

The projection is kept as int8 with one scale per output dimension: a float32 matrix of the descriptor's tens of
thousands of inputs would weigh more than the rest of the model; the int8 one costs a quarter of that, and its
rounding moves the embedding by far less than the edits it must see through (``benchmarks/verification.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deephash.model.pooling import video_descriptor
from deephash.verification import Embedding

INT8_MAX = 127


class VerificationHead(nn.Module):
    """Per-frame features ``[B, T, F]`` → the L2-normalised verification descriptor ``[B, dims]``."""

    def __init__(self, feature_dim: int, descriptor_dim: int, dims: int, motion_weight: float) -> None:
        super().__init__()
        self.feature_dim, self.motion_weight = feature_dim, motion_weight
        self.register_buffer("centre", torch.zeros(descriptor_dim))
        self.register_buffer("planes", torch.zeros(descriptor_dim, dims, dtype=torch.int8))
        self.register_buffer("scales", torch.ones(dims))

    def set_embedding(self, embedding: Embedding) -> None:
        """Install a fitted embedding, its planes rounded to int8 per output dimension."""
        planes = np.asarray(embedding.planes, dtype=np.float32)
        scales = np.maximum(np.abs(planes).max(axis=0), 1e-12) / INT8_MAX
        self.centre.copy_(torch.from_numpy(np.asarray(embedding.centre, dtype=np.float32)))
        self.planes.copy_(torch.from_numpy(np.rint(planes / scales).astype(np.int8)))
        self.scales.copy_(torch.from_numpy(scales.astype(np.float32)))

    def embedding(self) -> Embedding:
        """The installed embedding as numbers (its int8 planes expanded), for code that works outside the graph."""
        planes = self.planes.float().numpy() * self.scales.numpy()
        return Embedding(self.centre.numpy().copy(), planes.astype(np.float32), None)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        descriptors = F.normalize(video_descriptor(features[..., self.feature_dim :], self.motion_weight), dim=1)
        projected = (descriptors - self.centre) @ (self.planes.float() * self.scales)
        return F.normalize(projected, dim=1)
