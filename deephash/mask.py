"""Category masks (paper Eq. 5–8): which bits matter for which category.

For category k of a head with classifier weights W (categories x bits), M_r[k] keeps the ``round(r * bits)``
bits with the largest ``|W[k]|``. L1 bits use the L1 classifier; L2 bits use the L2 classifier of the
category's group. A query's mask is ``M1[l1] ‖ M2[l2]`` for its predicted categories, and the distance is
``popcount((q XOR d) AND mask)``. r is tuned on held-out data and stored. A mask never keeps the bits the
heads cannot move (``ModelConfig.anchor_only_bits``: the change of the video, quantised on its own): they
tell one video from another, not one category from another; without such bits r = 1 is plain Hamming.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deephash.codes import pack_bits
from deephash.errors import ModelError

if TYPE_CHECKING:
    from deephash.model.network import CascadeHead

MASK_FORMAT = 1


def top_bits(weights: np.ndarray, ratio: float) -> np.ndarray:
    """Boolean ``[K, L]``: per row, the ``round(ratio * L)`` entries of largest magnitude (ties: lower index)."""
    keep = min(weights.shape[1], max(1, int(round(ratio * weights.shape[1]))))
    order = np.argsort(-np.abs(weights), axis=1, kind="stable")[:, :keep]
    mask = np.zeros(weights.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


@dataclass(frozen=True)
class CategoryMask:
    """Per-category bit masks for the L1 part and the L2 part of a code."""

    ratio: float
    l1: np.ndarray  # bool [K1, L1 bits]
    l2: np.ndarray  # bool [K2, L2 bits] (global L2 ids)

    @classmethod
    def from_head(cls, head: CascadeHead, ratio: float) -> CategoryMask:
        if not 0.0 < ratio <= 1.0:
            raise ModelError(f"mask ratio must be in (0, 1], got {ratio}")
        l1 = top_bits(head.l1_classifier.weight.detach().numpy(), ratio)
        classifier = head.l2_classifier_weight.detach().numpy()  # [G, L2 bits, Nmax]
        local_to_global = head.local_to_global.numpy()
        l2 = np.zeros((int(local_to_global.max()) + 1, classifier.shape[1]), dtype=bool)
        for group, members in enumerate(local_to_global):
            count = int((members >= 0).sum())
            l2[members[:count]] = top_bits(classifier[group][:, :count].T, ratio)
        l2 &= head.l2_offset_gate.numpy() > 0
        return cls(ratio=ratio, l1=l1, l2=l2)

    @property
    def code_bits(self) -> int:
        return self.l1.shape[1] + self.l2.shape[1]

    def for_queries(self, l1: np.ndarray, l2: np.ndarray) -> np.ndarray:
        """Packed masks ``uint8 [Q, L/8]`` for queries of predicted categories (l1, l2)."""
        l1, l2 = np.atleast_1d(l1), np.atleast_1d(l2)
        for name, ids, table in (("L1", l1, self.l1), ("L2", l2, self.l2)):
            if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
                raise ModelError(f"{name} category id out of range 0..{len(table) - 1}: {ids}")
        return pack_bits(np.concatenate([self.l1[l1], self.l2[l2]], axis=1))

    def for_query(self, l1: int, l2: int) -> np.ndarray:
        return self.for_queries(np.array([l1]), np.array([l2]))[0]

    def save(self, path: Path) -> None:
        np.savez(path, format=MASK_FORMAT, ratio=self.ratio, l1=self.l1, l2=self.l2)

    @classmethod
    def load(cls, path: Path) -> CategoryMask:
        if not path.is_file():
            raise ModelError(f"no category mask at {path}; make one with `deephash mask`")
        with np.load(path) as data:
            if int(data["format"]) != MASK_FORMAT:
                raise ModelError(f"{path}: mask format {int(data['format'])}, expected {MASK_FORMAT}")
            return cls(ratio=float(data["ratio"]), l1=data["l1"].astype(bool), l2=data["l2"].astype(bool))
