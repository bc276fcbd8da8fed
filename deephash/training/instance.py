"""The instance stage: from a frozen descriptor to bits that survive edits, learned without labels.

Input: each video's descriptor (the backbone's regional GeM of its frames, made one by
:func:`deephash.model.pooling.video_descriptor`), L2-normalised.
Output: a projection ``bits = sign((x - centre) @ planes)``: the "anchors" the cascade's heads then move by a
bounded amount. Fitted on generated footage only (:mod:`deephash.training.instance_data`); real footage is
held out for evaluation.

Classic similarity-preserving quantisers are kept as baselines that the learned projection must beat:

* ``pca``: the top principal directions, sign of the projection;
* ``pca_itq``: the same, rotated by iterative quantisation (Gong & Lazebnik 2011) to lose less in the sign;
* ``whitened_itq``: learned discriminative whitening first (Radenović et al. 2018): directions along which
  edited views of one video differ are shrunk, then PCA and ITQ;
* ``split_whitened_itq_K`` (descriptors with a change part, ``pooling.video_descriptor``): whitened ITQ of each
  part on its own, K of the bits for the change. Fitted jointly, the change's directions vary between
  edited views (a trim or a speed change moves it) and are whitened away; bits of their own keep it;
* ``learned``: a linear projection trained from the best of the above on held-out footage (a split one keeps
  its blocks) with InfoNCE between views (every other video of the batch a negative; SSCD's recipe), a KoLeo
  term that spreads codes over the space, a quantisation term that pulls relaxed bits to ±1, and a balance term
  (each bit ~50 % ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from deephash.errors import ModelError

INSTANCE_FILE = "instance.npz"  # the projection in a model folder (also inside weights.pt, as buffers)
PRE_PCA_DIM = 512  # whitening and ITQ work in this many dimensions; the descriptor has thousands


@dataclass(frozen=True)
class Projection:
    """``bits = ((x / |x|) - centre) @ planes >= 0`` for a descriptor ``x``.

    ``change_bits``: the last bits quantise the descriptor's change part on their own (a split projection);
    the cascade keeps them as they are (``ModelConfig.anchor_only_bits``)."""

    centre: np.ndarray  # float32 [D]
    planes: np.ndarray  # float32 [D, L]
    change_bits: int = 0

    def scores(self, descriptors: np.ndarray) -> np.ndarray:
        return (normalise(descriptors) - self.centre) @ self.planes

    def bits(self, descriptors: np.ndarray) -> np.ndarray:
        return self.scores(descriptors) >= 0

    def save(self, path: Path) -> None:
        np.savez(path, centre=self.centre, planes=self.planes, change_bits=self.change_bits)

    @classmethod
    def load(cls, path: Path) -> Projection:
        if not Path(path).is_file():
            raise ModelError(f"no instance projection at {path}; make one with `deephash train-instance`")
        with np.load(path) as data:
            change_bits = int(data["change_bits"]) if "change_bits" in data else 0
            return cls(data["centre"].astype(np.float32), data["planes"].astype(np.float32), change_bits)


@dataclass(frozen=True)
class InstanceOptions:
    code_bits: int = 128
    epochs: int = 100
    batch_size: int = 512
    lr: float = 3e-3
    temperature: float = 0.1
    sharpness: float = 3.0  # relaxed bit = tanh(sharpness * score / score spread)
    koleo_weight: float = 0.05
    quantisation_weight: float = 0.1
    balance_weight: float = 0.1
    whitening_shrinkage: float = 0.1  # ridge added to the intra-pair covariance, as a share of its mean eigenvalue
    change_shares: tuple[float, ...] = (0.125, 0.25)  # shares of the bits split quantisers give the change part
    seed: int = 0


def normalise(descriptors: np.ndarray) -> np.ndarray:
    descriptors = np.asarray(descriptors, dtype=np.float32)
    return descriptors / np.maximum(np.linalg.norm(descriptors, axis=-1, keepdims=True), 1e-12)


def _pca(centred: np.ndarray, dims: int) -> np.ndarray:
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


def fit_pca(views: np.ndarray, bits: int) -> Projection:
    """``views`` float ``[N, V, D]`` (only view 0, the unedited one, is used)."""
    x = normalise(views[:, 0])
    centre = x.mean(axis=0)
    return Projection(centre, _pca(x - centre, bits))


def fit_pca_itq(views: np.ndarray, bits: int, seed: int = 0) -> Projection:
    pca = fit_pca(views, bits)
    return Projection(pca.centre, pca.planes @ itq_rotation(pca.scores(views[:, 0]), seed=seed))


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
    centre = x[:, 0].mean(axis=0)
    reduce = _pca(x[:, 0] - centre, min(PRE_PCA_DIM, x.shape[-1], len(x)))
    reduced = (x - centre) @ reduce  # [N, V, P]
    differences = (reduced[:, 1:] - reduced[:, :1]).reshape(-1, reduced.shape[-1])
    within = differences.T @ differences / len(differences)
    values, vectors = np.linalg.eigh(within)
    values = values + shrinkage * values.mean()
    whiten = (vectors / np.sqrt(values)) @ vectors.T
    whitened = reduced[:, 0] @ whiten
    directions = _pca(whitened - whitened.mean(axis=0), bits)
    planes = reduce @ whiten @ directions
    return Projection(centre, planes @ itq_rotation(reduced[:, 0] @ whiten @ directions, seed=seed))


def _koleo(codes: torch.Tensor) -> torch.Tensor:
    """Kozachenko–Leonenko entropy estimate (negated): large when some code has a close neighbour."""
    unit = F.normalize(codes, dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-2.0)
    nearest = (2 - 2 * similarity.max(dim=1).values).clamp(min=1e-8).sqrt()
    return -torch.log(nearest).mean()


def train_projection(
    views: np.ndarray, options: InstanceOptions, start: Projection
) -> tuple[Projection, list[dict[str, float]]]:
    """Fine-tune ``start``'s planes on the views (``[N, V, D]``) with the objective of the module docstring.

    A split start keeps its structure: planes that are zero stay zero, so the change's bits still read the change
    alone and the cascade can keep them (``Projection.change_bits``)."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    x = torch.from_numpy(normalise(views) - start.centre)
    structure = torch.from_numpy(start.planes != 0).float() if start.change_bits else torch.ones(())
    planes = torch.nn.Parameter(torch.from_numpy(start.planes.copy()))
    spread = float((x[:, 0] @ planes).detach().std())
    scale = float(planes.detach().abs().mean())
    optimizer = torch.optim.Adam([planes], lr=options.lr * spread / max(scale, 1e-12))
    history = []
    count, view_count = x.shape[0], x.shape[1]
    for epoch in range(options.epochs):
        order = rng.permutation(count)
        totals: dict[str, float] = {}
        steps = 0
        for begin in range(0, count - 1, options.batch_size):
            rows = torch.from_numpy(order[begin : begin + options.batch_size])
            if len(rows) < 2:
                continue
            first, second = rng.choice(view_count, size=2, replace=False)
            a = torch.tanh(options.sharpness * (x[rows, int(first)] @ planes) / spread)
            b = torch.tanh(options.sharpness * (x[rows, int(second)] @ planes) / spread)
            logits = (F.normalize(a, dim=1) @ F.normalize(b, dim=1).T) / options.temperature
            targets = torch.arange(len(rows))
            parts = {
                "infonce": (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2,
                "koleo": (_koleo(a) + _koleo(b)) / 2,
                "quantisation": ((1 - a.abs()).mean() + (1 - b.abs()).mean()) / 2,
                "balance": (a.mean(dim=0).pow(2).mean() + b.mean(dim=0).pow(2).mean()) / 2,
            }
            loss = (
                parts["infonce"]
                + options.koleo_weight * parts["koleo"]
                + options.quantisation_weight * parts["quantisation"]
                + options.balance_weight * parts["balance"]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                planes.mul_(structure)
            for name, value in {"loss": loss, **parts}.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach())
            steps += 1
        history.append({"epoch": epoch, **{name: value / max(steps, 1) for name, value in totals.items()}})
    return Projection(start.centre, planes.detach().numpy().astype(np.float32), start.change_bits), history


def view_recall(projection: Projection, views: np.ndarray) -> float:
    """Held-out recall@1 on generated footage: each edited view finds its own video's unedited view among all
    unedited views (Hamming distance, ties counted fairly)."""
    from deephash.codes import pack_bits
    from deephash.metrics import distance_matrix, recall_at

    database = pack_bits(projection.bits(views[:, 0]))
    queries = pack_bits(projection.bits(views[:, 1:].reshape(-1, views.shape[-1])))
    targets = np.repeat(np.arange(len(views)), views.shape[1] - 1)
    return recall_at(distance_matrix(queries, database), targets)[1]


BASELINES = {"pca": fit_pca, "pca_itq": fit_pca_itq}


@dataclass(frozen=True)
class InstanceStage:
    """Every quantiser fitted, their held-out recall@1, and the one chosen for the anchors."""

    fitted: dict[str, Projection]
    recall: dict[str, float]
    chosen: str
    history: list[dict[str, float]]
    learned_from: str  # the fitted quantiser the learned projection started from: the best of them held out

    @property
    def projection(self) -> Projection:
        return self.fitted[self.chosen]

    @property
    def baselines(self) -> dict[str, Projection]:
        """The classic quantisers (not learned), for reports that set them beside the model."""
        return {name: projection for name, projection in self.fitted.items() if name != "learned"}


def fit_instance_stage(
    views: np.ndarray,
    options: InstanceOptions,
    held_out: int,
    change_from: int | None = None,
    look_alikes: np.ndarray | None = None,
) -> InstanceStage:
    """Every quantiser fitted on all but the last ``held_out`` videos, and the held-out recall@1 of each; the
    learned projection is trained from the best of the fitted ones, and the chosen projection is the one with the
    best held-out recall: the learned projection is used only where it beats the fitted baselines on generated
    footage, never chosen on real footage, which stays for evaluation.
    ``change_from``: where the descriptor's change part starts, if it has one (split quantisers are fitted then,
    one per share of :attr:`InstanceOptions.change_shares`). ``look_alikes``: views of generated videos that
    come in groups of one scene, held out beside the last videos (never fitted on)."""
    train, test = views[:-held_out], views[-held_out:]
    if look_alikes is not None:
        test = np.concatenate([test, look_alikes])
    bits = options.code_bits
    fitted = {name: fit(train, bits) for name, fit in BASELINES.items()}
    fitted["whitened_itq"] = fit_whitened_itq(train, bits, options.whitening_shrinkage, options.seed)
    for share in options.change_shares if change_from is not None else ():
        change_bits = max(1, round(bits * share))
        fitted[f"split_whitened_itq_{change_bits}"] = fit_split_whitened_itq(
            train, bits, change_from, change_bits, options.whitening_shrinkage, options.seed
        )
    recall = {name: view_recall(projection, test) for name, projection in fitted.items()}
    start = max(recall, key=recall.get)
    fitted["learned"], history = train_projection(train, options, fitted[start])
    recall["learned"] = view_recall(fitted["learned"], test)
    chosen = max(recall, key=lambda name: (recall[name], name == "learned"))
    return InstanceStage(fitted, recall, chosen, history, start)
