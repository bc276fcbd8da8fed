"""The cascaded hash network: frames → backbone → weighted fusion → shared FC → L1 head → L2 head.

The L2 head of the *predicted* L1 group is chosen by gathering from stacked per-group weights, not by
Python control flow, so the whole cascade is one static graph that exports to ONNX/TensorRT as one model.

Every bit's pre-activation is an *anchor* plus the learned cascade's output squashed into ``±learned_reach``.
The anchors are SimHash of the video — the centred mean frame feature against the baseline's own random
hyperplanes — so the code starts as the baseline's code, and training corrects the bits whose anchor lies
near the threshold (where edits flip them anyway) to carry the categories and edit invariance. Bits far
from the threshold keep the instance detail that a few hundred synthetic training videos cannot teach:
unbounded heads without anchors collapsed videos of a category together and lost near-duplicate recall on
footage unlike the training set.

A bit is 1 where the hash layer's sigmoid output is ≥ 0.5, i.e. where its pre-activation is ≥ 0 (the
comparison is done on the pre-activation, which is exact in every runtime).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deephash.baseline import hyperplanes
from deephash.model.backbones import IMAGENET_MEAN, IMAGENET_STD, backbone_spec
from deephash.model.config import ModelConfig

# Logit for the padding slots of groups with fewer L2 classes than the largest group; finite so that
# FP16 engines do not turn it into NaN.
_PAD_LOGIT = -1.0e4


@dataclass
class HeadOutput:
    """What the heads produce for a batch (training needs the soft values, serving the ids)."""

    hash_pre: torch.Tensor  # [B, L] pre-sigmoid hash activations (L1 bits then L2 bits)
    binary_like: torch.Tensor  # [B, L] sigmoid outputs in [0, 1]
    l1_logits: torch.Tensor  # [B, K1]
    l2_logits: torch.Tensor  # [B, Nmax] within the selected group; padding slots at _PAD_LOGIT
    group: torch.Tensor  # [B] the L1 group whose L2 head ran
    extra_logits: dict[str, torch.Tensor]


class CascadeHead(nn.Module):
    """Everything above the backbone; runs on per-frame features ``[B, T, F]``.

    Kept separate from the backbone so that training can cache backbone features once and train only this.
    """

    def __init__(self, config: ModelConfig, feature_dim: int) -> None:
        super().__init__()
        taxonomy = config.taxonomy
        groups = taxonomy.groups
        widest = max(len(group) for group in groups)
        self.frame_logits = nn.Parameter(torch.zeros(config.num_frames))
        self.l1_bits, self.reach = config.l1_bits, config.learned_reach
        self.pooled_norm = nn.BatchNorm1d(feature_dim, affine=False)  # its running mean centres the anchors
        planes = hyperplanes(feature_dim, config.code_bits) * (config.anchor_gain / np.sqrt(feature_dim))
        self.register_buffer("anchor_planes", torch.from_numpy(planes).float())
        self.shared = nn.Sequential(nn.Linear(feature_dim, config.shared_dim), nn.ReLU(), nn.Dropout(config.dropout))
        # The learned offsets also see the standardised fused features directly, beside the FC path; the L2
        # part of that map is shared by all groups, so a video whose L1 prediction flips under an edit
        # keeps most of its L2 offsets.
        self.feature_norm = nn.BatchNorm1d(feature_dim, affine=False)
        self.l1_hash = nn.Linear(config.shared_dim, config.l1_bits)
        self.l1_feature_hash = nn.Linear(feature_dim, config.l1_bits, bias=False)
        self.l2_feature_hash = nn.Linear(feature_dim, config.l2_bits, bias=False)
        self.l1_classifier = nn.Linear(config.l1_bits, len(taxonomy.l1_names))
        count = len(groups)
        self.l2_hash_weight = nn.Parameter(torch.empty(count, config.shared_dim, config.l2_bits))
        self.l2_hash_bias = nn.Parameter(torch.zeros(count, config.l2_bits))
        self.l2_classifier_weight = nn.Parameter(torch.empty(count, config.l2_bits, widest))
        self.l2_classifier_bias = nn.Parameter(torch.zeros(count, widest))
        for weight in (self.l2_hash_weight, self.l2_classifier_weight):
            bound = 1.0 / weight.shape[1] ** 0.5
            nn.init.uniform_(weight, -bound, bound)
        local_to_global = torch.full((count, widest), -1, dtype=torch.long)
        for g, members in enumerate(groups):
            local_to_global[g, : len(members)] = torch.tensor(members)
        self.register_buffer("local_to_global", local_to_global)
        global_to_local = torch.full((len(taxonomy.l2_names),), -1, dtype=torch.long)
        for members in groups:
            global_to_local[torch.tensor(members)] = torch.arange(len(members))
        self.register_buffer("global_to_local", global_to_local)
        self.register_buffer("l2_parent", torch.tensor(taxonomy.l2_parent, dtype=torch.long))
        self.extra_names = list(taxonomy.extra)
        self.extra_classifiers = nn.ModuleList(
            nn.Linear(config.code_bits, len(values)) for values in taxonomy.extra.values()
        )

    def fusion_weights(self) -> torch.Tensor:
        """The learned frame weights w_1..w_T (softmax-normalised, so they sum to one)."""
        return torch.softmax(self.frame_logits, dim=0)

    def anchors(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` SimHash pre-activations: the centred mean frame feature on fixed hyperplanes."""
        pooled = features.mean(dim=1)
        if self.training:
            self.pooled_norm(pooled.detach())  # only to update the running mean
        return (pooled - self.pooled_norm.running_mean) @ self.anchor_planes

    def _bounded(self, anchor: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
        return anchor + self.reach * torch.tanh(learned / self.reach)

    def forward(self, features: torch.Tensor, group: torch.Tensor | None = None) -> HeadOutput:
        """``group`` forces which L2 head runs (teacher forcing in training); default: the L1 prediction."""
        fused = (features * self.fusion_weights().view(1, -1, 1)).sum(dim=1)
        shared = self.shared(fused)
        standardised = self.feature_norm(fused)
        anchor = self.anchors(features)
        l1_pre = self._bounded(anchor[:, : self.l1_bits], self.l1_hash(shared) + self.l1_feature_hash(standardised))
        l1_soft = torch.sigmoid(l1_pre)
        l1_logits = self.l1_classifier(l1_soft)
        if group is None:
            group = l1_logits.argmax(dim=1)
        l2_pre = torch.bmm(shared.unsqueeze(1), self.l2_hash_weight[group]).squeeze(1)
        l2_pre = l2_pre + self.l2_hash_bias[group] + self.l2_feature_hash(standardised)
        l2_pre = self._bounded(anchor[:, self.l1_bits :], l2_pre)
        l2_soft = torch.sigmoid(l2_pre)
        l2_logits = torch.bmm(l2_soft.unsqueeze(1), self.l2_classifier_weight[group]).squeeze(1)
        l2_logits = l2_logits + self.l2_classifier_bias[group]
        padding = self.local_to_global[group] < 0
        l2_logits = torch.where(padding, torch.full_like(l2_logits, _PAD_LOGIT), l2_logits)
        binary_like = torch.cat([l1_soft, l2_soft], dim=1)
        extra = {name: classifier(binary_like) for name, classifier in zip(self.extra_names, self.extra_classifiers)}
        return HeadOutput(
            hash_pre=torch.cat([l1_pre, l2_pre], dim=1),
            binary_like=binary_like,
            l1_logits=l1_logits,
            l2_logits=l2_logits,
            group=group,
            extra_logits=extra,
        )


class FrameEncoder(nn.Module):
    """uint8 frames ``[B, T, 3, H, W]`` → per-frame features ``[B, T, F]`` (normalisation in the graph)."""

    def __init__(self, backbone_name: str, weights_path: str | None = None) -> None:
        super().__init__()
        spec = backbone_spec(backbone_name)
        self.feature_dim = spec.feature_dim
        self.backbone = spec.build(weights_path)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, count = frames.shape[:2]
        images = (frames.flatten(0, 1).float() - self.mean) / self.std
        return self.backbone(images).view(batch, count, self.feature_dim)


class DeepHashNet(nn.Module):
    """The whole model; ``forward`` is the serving/export signature.

    Outputs: packed code ``uint8 [B, L/8]``, L1 id ``int64 [B]``, L1 probability ``float [B]``, L2 id
    (global) ``int64 [B]``, L2 probability (within the predicted group) ``float [B]``, then for each extra
    label dimension its id and probability.
    """

    def __init__(self, config: ModelConfig, backbone_weights: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = FrameEncoder(config.backbone, backbone_weights)
        self.head = CascadeHead(config, self.encoder.feature_dim)
        self.register_buffer("bit_weights", 2 ** torch.arange(7, -1, -1, dtype=torch.float32))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.outputs_from_head(self.head(self.encoder(frames)))

    def outputs_from_head(self, out: HeadOutput) -> tuple[torch.Tensor, ...]:
        bits = (out.hash_pre >= 0).float()
        packed = (bits.view(bits.shape[0], -1, 8) * self.bit_weights).sum(dim=2).to(torch.uint8)
        l1_prob, l1_id = F.softmax(out.l1_logits, dim=1).max(dim=1)
        l2_prob, l2_local = F.softmax(out.l2_logits, dim=1).max(dim=1)
        l2_id = self.head.local_to_global[out.group].gather(1, l2_local.unsqueeze(1)).squeeze(1)
        results = [packed, l1_id, l1_prob, l2_id, l2_prob]
        for name in self.head.extra_names:
            prob, index = F.softmax(out.extra_logits[name], dim=1).max(dim=1)
            results += [index, prob]
        return tuple(results)

    def output_names(self) -> list[str]:
        return self.config.output_names
