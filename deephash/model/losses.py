"""Training losses (the objective in ``docs/architecture.md``). Each takes binary-like vectors in [0, 1] or
logits; -1 labels are ignored.

Distances are squared Euclidean distances summed over the L bits, so margins are in "bits": with binary
outputs ``||a - b||^2`` equals the Hamming distance.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IGNORE = -1


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the rows whose label is known (0 when none is)."""
    known = labels != IGNORE
    if not bool(known.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[known], labels[known])


def intra_pair_loss(first: torch.Tensor, second: torch.Tensor, margin: float) -> torch.Tensor:
    """``mean(max(||ip1 - ip2||^2 - M, 0))``: two frame sets of one video should hash alike.

    The margin M tolerates small differences, which stops the trivial solution of every output at zero.
    """
    return F.relu((first - second).pow(2).sum(dim=1) - margin).mean()


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """``mean(max(||a - p||^2 - ||a - n||^2 + margin, 0))``.

    Positive: the other frame set (or an edited copy) of the same video; negative: a video of another
    category — so no extra labelling is needed.
    """
    near = (anchor - positive).pow(2).sum(dim=1)
    far = (anchor - negative).pow(2).sum(dim=1)
    return F.relu(near - far + margin).mean()


def pick_negatives(categories: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each row, the index of a random row of another category (itself when there is none).

    Rows of unknown category (-1) are never chosen as negatives and pick among known rows.
    """
    count = categories.shape[0]
    differs = (categories.unsqueeze(0) != categories.unsqueeze(1)) & (categories != IGNORE).unsqueeze(0)
    scores = torch.rand(count, count, generator=generator) * differs
    choice = scores.argmax(dim=1)
    return torch.where(differs.any(dim=1), choice, torch.arange(count))


def instance_contrastive_loss(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE over the batch: each anchor must be nearer its own positive than every other video's.

    ``logits[i, j] = -||a_i - p_j||^2 / temperature`` (temperature in bits), cross-entropy towards the
    diagonal, in both directions. Every other video of the batch is a negative, so codes keep the
    instance detail that near-duplicate search needs, not only the category.
    """
    distances = torch.cdist(anchor, positive).pow(2)
    logits = -distances / temperature
    targets = torch.arange(len(anchor))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
