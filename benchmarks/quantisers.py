"""The quantisers the instance stage was chosen over (docs/measurements.md, "The quantiser and its choosing set"):
plain PCA, PCA with ITQ, and a linear projection learned from a fitted start with InfoNCE between views (SSCD's
recipe: every other video of the batch a negative), a KoLeo term that spreads codes over the space, a
quantisation term that pulls relaxed bits to ±1 and a balance term (each bit ~50 % ones). The build fits only the
one chosen (``deephash.training.instance``); ``quantiser_ceiling.py`` compares them all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn import functional as F

from deephash.training.instance import Projection, itq_rotation, normalise, pca_directions


@dataclass(frozen=True)
class LearnedOptions:
    epochs: int = 100
    batch_size: int = 512
    lr: float = 3e-3
    temperature: float = 0.1
    sharpness: float = 3.0  # relaxed bit = tanh(sharpness * score / score spread)
    koleo_weight: float = 0.05
    quantisation_weight: float = 0.1
    balance_weight: float = 0.1
    seed: int = 0


def fit_pca(views: np.ndarray, bits: int) -> Projection:
    """``views`` float ``[N, V, D]`` (only view 0, the unedited one, is used)."""
    x = normalise(views[:, 0])
    centre = x.mean(axis=0)
    return Projection(centre, pca_directions(x - centre, bits))


def fit_pca_itq(views: np.ndarray, bits: int, seed: int = 0) -> Projection:
    pca = fit_pca(views, bits)
    return Projection(pca.centre, pca.planes @ itq_rotation(pca.scores(views[:, 0]), seed=seed))


def _koleo(codes: torch.Tensor) -> torch.Tensor:
    """Kozachenko–Leonenko entropy estimate (negated): large when some code has a close neighbour."""
    unit = F.normalize(codes, dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-2.0)
    nearest = (2 - 2 * similarity.max(dim=1).values).clamp(min=1e-8).sqrt()
    return -torch.log(nearest).mean()


def train_projection(
    views: np.ndarray, options: LearnedOptions, start: Projection
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
    return replace(start, planes=planes.detach().numpy().astype(np.float32)), history
