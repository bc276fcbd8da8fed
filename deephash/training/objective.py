"""The joint objective on two views of a batch of videos (shared by both training modes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deephash.model import losses
from deephash.model.network import CascadeHead, HeadOutput


@dataclass(frozen=True)
class LossWeights:
    """Weights and margins (margins in bits: squared distance of binary-like vectors)."""

    l1: float = 1.0
    l2: float = 1.0
    extra: float = 0.5
    intra: float = 1.0
    triplet: float = 0.3
    instance: float = 3.0
    intra_margin: float = 2.0
    triplet_margin: float = 24.0
    instance_temperature: float = 4.0


@dataclass
class BatchLabels:
    l1: torch.Tensor  # [B] (-1 unknown)
    l2: torch.Tensor  # [B] global ids (-1 unknown)
    extra: dict[str, torch.Tensor]


def forced_groups(head: CascadeHead, labels: BatchLabels, predicted: torch.Tensor) -> torch.Tensor:
    """Teacher forcing: the L2 head of the true L1 group where known, else of the predicted one."""
    return torch.where(labels.l1 >= 0, labels.l1, predicted)


def joint_loss(
    head: CascadeHead,
    anchor_features: torch.Tensor,
    positive_features: torch.Tensor,
    labels: BatchLabels,
    weights: LossWeights,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Classification (both views) + intra-pair + category triplet + instance InfoNCE; returns the total
    and the parts.

    The category triplet (negative of another category, as in the paper) separates categories; the instance
    InfoNCE (every other video of the batch is a negative, whatever its category) keeps videos of one
    category apart, without which near-duplicate search inside a category degrades to chance.
    """
    probe = head(anchor_features)
    category = torch.where(labels.l2 >= 0, labels.l2, -1)
    group = forced_groups(head, labels, probe.l1_logits.argmax(dim=1))
    anchor = head(anchor_features, group)
    positive = head(positive_features, group)
    local_l2 = torch.where(labels.l2 >= 0, head.global_to_local[labels.l2.clamp(min=0)], labels.l2)
    parts = {
        "l1": sum(losses.classification_loss(out.l1_logits, labels.l1) for out in (anchor, positive)) / 2,
        "l2": sum(losses.classification_loss(out.l2_logits, local_l2) for out in (anchor, positive)) / 2,
        "intra": losses.intra_pair_loss(anchor.binary_like, positive.binary_like, weights.intra_margin),
        "triplet": _triplet(anchor, positive, losses.pick_negatives(category, generator), weights.triplet_margin),
        "instance": losses.instance_contrastive_loss(
            anchor.binary_like, positive.binary_like, weights.instance_temperature
        ),
    }
    extra = [
        losses.classification_loss(anchor.extra_logits[name], labels.extra[name])
        for name in head.extra_names
        if name in labels.extra
    ]
    parts["extra"] = sum(extra) / len(extra) if extra else anchor.binary_like.sum() * 0.0
    total = (
        weights.l1 * parts["l1"]
        + weights.l2 * parts["l2"]
        + weights.extra * parts["extra"]
        + weights.intra * parts["intra"]
        + weights.triplet * parts["triplet"]
        + weights.instance * parts["instance"]
    )
    return total, {name: float(value.detach()) for name, value in parts.items()}


def _triplet(anchor: HeadOutput, positive: HeadOutput, negatives: torch.Tensor, margin: float) -> torch.Tensor:
    """Triplet loss over the rows that have a negative (row ``negatives[i]``'s positive view)."""
    valid = negatives != torch.arange(len(negatives))
    if not bool(valid.any()):
        return anchor.binary_like.sum() * 0.0
    return losses.triplet_loss(
        anchor.binary_like[valid],
        positive.binary_like[valid],
        positive.binary_like[negatives[valid]],
        margin,
    )
