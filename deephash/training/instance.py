"""The instance stage: from a frozen descriptor to bits that survive edits, learned without labels.

Input: each video's descriptor (the backbone's regional GeM of its frames, made one by
:func:`deephash.model.pooling.video_descriptor`), L2-normalised.
Output: a projection ``bits = sign((x - centre) @ planes)``: the "anchors" the cascade's heads then move by a
bounded amount. Fitted on generated footage only (:mod:`deephash.training.instance_data`); real footage is
held out for evaluation.

The projection is discriminative whitening (Radenović et al. 2018: directions along which edited views of one
video differ are shrunk), then PCA and iterative quantisation (Gong & Lazebnik 2011) to lose less in the sign.
A descriptor with a change part (``pooling.video_descriptor``) is quantised in two blocks, a share of the bits for
the change on its own: fitted jointly, the change's directions vary between edited views (a trim or a speed change
moves it) and are whitened away; bits of their own keep it. The other quantisers and the learned projection this
was chosen over are compared in ``benchmarks/quantiser_ceiling.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from deephash.errors import ModelError
from deephash.model.config import DescriptorSettings, refuse_other_descriptors
from deephash.verification import normalise

INSTANCE_FILE = "instance.npz"  # the projection in a model folder (also inside weights.pt, as buffers)
PRE_PCA_DIM = 512  # whitening and ITQ work in this many dimensions; the descriptor has thousands


@dataclass(frozen=True)
class Projection:
    """``bits = ((x / |x|) - centre) @ planes >= 0`` for a descriptor ``x``.

    ``change_bits``: the last bits quantise the descriptor's change part on their own (a split projection);
    the cascade keeps them as they are (``ModelConfig.anchor_only_bits``). ``descriptor``: the settings of the
    descriptors it was fitted on; a model whose own differ refuses it."""

    centre: np.ndarray  # float32 [D]
    planes: np.ndarray  # float32 [D, L]
    change_bits: int = 0
    descriptor: DescriptorSettings | None = None  # None: not yet stamped (a fit's raw result)

    def scores(self, descriptors: np.ndarray) -> np.ndarray:
        return (normalise(descriptors) - self.centre) @ self.planes

    def bits(self, descriptors: np.ndarray) -> np.ndarray:
        return self.scores(descriptors) >= 0

    def save(self, path: Path) -> None:
        if self.descriptor is None:
            raise ModelError("a projection is saved with the descriptor settings it was fitted on")
        descriptor = json.dumps(self.descriptor.to_json())
        np.savez(path, centre=self.centre, planes=self.planes, change_bits=self.change_bits, descriptor=descriptor)

    @classmethod
    def load(cls, path: Path) -> Projection:
        if not Path(path).is_file():
            raise ModelError(f"no instance projection at {path}; make one with `deephash train-instance`")
        with np.load(path) as data:
            if "descriptor" not in data:
                raise ModelError(f"{path} does not record the descriptor it was fitted on: fit it again")
            descriptor = DescriptorSettings(**json.loads(str(data["descriptor"])))
            planes = data["planes"].astype(np.float32)
            return cls(data["centre"].astype(np.float32), planes, int(data["change_bits"]), descriptor)

    def check_fits(self, descriptor: DescriptorSettings) -> None:
        """Refuse a model whose descriptor is not the one this projection was fitted on."""
        refuse_other_descriptors("instance projection", self.descriptor, descriptor)


@dataclass(frozen=True)
class InstanceOptions:
    code_bits: int = 128
    whitening_shrinkage: float = 0.1  # ridge added to the intra-pair covariance, as a share of its mean eigenvalue
    change_share: float = 0.125  # of the bits, quantising the descriptor's change part on its own
    seed: int = 0  # of the ITQ rotation's random start


def pca_directions(centred: np.ndarray, dims: int) -> np.ndarray:
    """``[D, dims]`` principal directions of row vectors (already centred)."""
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:dims].T.astype(np.float32)


def itq_rotation(projected: np.ndarray, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """Orthogonal ``[L, L]`` rotation that minimises the quantisation loss ``|B - V R|^2`` (ITQ)."""
    dims = projected.shape[1]
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dims, dims)))
    for _ in range(iterations):
        codes = np.sign(projected @ rotation)
        u, _, vt = np.linalg.svd(codes.T @ projected)
        rotation = (u @ vt).T
    return rotation.astype(np.float32)


def fit_whitened_itq(views: np.ndarray, bits: int, shrinkage: float = 0.1, seed: int = 0) -> Projection:
    """PCA to :data:`PRE_PCA_DIM`, whitening of the differences between views of one video, PCA, ITQ."""
    return _whitened_itq(normalise(views), bits, shrinkage, seed)


def fit_split_whitened_itq(
    views: np.ndarray, bits: int, change_from: int, change_bits: int, shrinkage: float = 0.1, seed: int = 0
) -> Projection:
    """Whitened ITQ of the descriptor's two parts (``[..., :change_from]`` the frames' mean, the rest their change)
    on their own, ``change_bits`` of the ``bits`` for the change: one projection whose planes are block-diagonal.
    Each part is fitted as it lies in the normalised whole descriptor, so the projection's bits are exact."""
    x = normalise(views)
    parts = (
        _whitened_itq(x[..., :change_from], bits - change_bits, shrinkage, seed),
        _whitened_itq(x[..., change_from:], change_bits, shrinkage, seed),
    )
    planes = np.zeros((x.shape[-1], bits), dtype=np.float32)
    planes[:change_from, : bits - change_bits] = parts[0].planes
    planes[change_from:, bits - change_bits :] = parts[1].planes
    return Projection(np.concatenate([part.centre for part in parts]), planes, change_bits)


def _whitened_itq(x: np.ndarray, bits: int, shrinkage: float, seed: int) -> Projection:
    """:func:`fit_whitened_itq` of descriptors as given (the caller normalises)."""
    centre, planes, projected = whitened_directions(x, bits, shrinkage)
    return Projection(centre, planes @ itq_rotation(projected, seed=seed))


def whitened_directions(
    x: np.ndarray, dims: int, shrinkage: float, pre_dims: int = PRE_PCA_DIM
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learned discriminative whitening of views ``x`` ``[N, V, D]`` (view 0 unedited): PCA to ``pre_dims``,
    whitening of the differences between views of one video (directions edits move are shrunk), PCA to ``dims``.
    Returns the centre ``[D]``, the planes ``[D, dims]`` and view 0 projected ``[N, dims]``."""
    centre = x[:, 0].mean(axis=0)
    reduce = pca_directions(x[:, 0] - centre, min(pre_dims, x.shape[-1], len(x)))
    reduced = (x - centre) @ reduce  # [N, V, P]
    differences = (reduced[:, 1:] - reduced[:, :1]).reshape(-1, reduced.shape[-1])
    within = differences.T @ differences / len(differences)
    values, vectors = np.linalg.eigh(within)
    values = values + shrinkage * values.mean()
    whiten = (vectors / np.sqrt(values)) @ vectors.T
    whitened = reduced[:, 0] @ whiten
    directions = pca_directions(whitened - whitened.mean(axis=0), dims)
    return centre, reduce @ whiten @ directions, reduced[:, 0] @ whiten @ directions


def view_recall(projection: Projection, views: np.ndarray) -> float:
    """Held-out recall@1 on generated footage: each edited view finds its own video's unedited view among all
    unedited views (Hamming distance, ties counted fairly)."""
    from deephash.codes import pack_bits
    from deephash.metrics import distance_matrix, recall_at

    database = pack_bits(projection.bits(views[:, 0]))
    queries = pack_bits(projection.bits(views[:, 1:].reshape(-1, views.shape[-1])))
    targets = np.repeat(np.arange(len(views)), views.shape[1] - 1)
    return recall_at(distance_matrix(queries, database), targets)[1]


@dataclass(frozen=True)
class InstanceStage:
    """The projection fitted for the anchors, and its recall@1 on held-out generated videos."""

    projection: Projection
    name: str
    held_out_recall: float


def fit_instance_stage(
    views: np.ndarray,
    options: InstanceOptions,
    held_out: int,
    descriptor: DescriptorSettings,
    change_from: int | None = None,
    look_alikes: np.ndarray | None = None,
) -> InstanceStage:
    """The projection fitted on all but the last ``held_out`` videos of ``views`` (descriptors of ``descriptor``'s
    settings), and its recall@1 on those (beside the ``look_alikes``, views of generated videos that come in groups
    of one scene, never fitted on). ``change_from``: where the descriptor's change part starts, if it has one."""
    train, test = views[:-held_out], views[-held_out:]
    if look_alikes is not None:
        test = np.concatenate([test, look_alikes])
    bits, shrinkage = options.code_bits, options.whitening_shrinkage
    if change_from is None:
        name, fitted = "whitened_itq", fit_whitened_itq(train, bits, shrinkage, options.seed)
    else:
        change_bits = max(1, round(bits * options.change_share))
        name = f"split_whitened_itq_{change_bits}"
        fitted = fit_split_whitened_itq(train, bits, change_from, change_bits, shrinkage, options.seed)
    projection = replace(fitted, descriptor=descriptor)
    return InstanceStage(projection, name, view_recall(projection, test))
