"""The cascaded hash network: frames → backbone → weighted fusion → shared FC → L1 head → L2 head.

The L2 head of the *predicted* L1 group is chosen by gathering from stacked per-group weights, not by
Python control flow, so the whole cascade is one static graph that exports to ONNX/TensorRT as one model.

Each frame's features are the backbone map's global average followed by its regional GeM descriptor
(``pooling.py``). The learned cascade reads the global averages; every bit's pre-activation is an *anchor*
plus the cascade's output squashed into ``±LEARNED_REACH`` and scaled by the *trust* in the L1 prediction.
The anchors are the instance stage's projection of the video descriptor (its frames' regional descriptors and
how they change, ``pooling.video_descriptor``; learned without
labels on generated footage to keep edited copies together, ``training/instance.py``), so the code starts as
an instance-level hash, and training corrects the bits whose anchor lies near the
threshold (where edits flip them anyway) to carry the categories and edit invariance. Bits far from the
threshold keep the instance detail that a few hundred synthetic training videos cannot teach: unbounded
heads without anchors collapsed videos of a category together and lost near-duplicate recall on footage
unlike the training set. The last ``anchor_only_bits`` bits (the change over the video, quantised on its
own) are never moved: trimmed or sped-up training views would teach the heads to override them. The trust
keeps the heads out of the code of videos no trained category fits, whose predicted group (and so the L2 head
that would code them) flips under small edits.

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
from deephash.errors import ModelError
from deephash.model.config import ModelConfig
from deephash.model.encoder import FrameEncoder
from deephash.model.pooling import video_descriptor, video_descriptor_dim
from deephash.model.verification_head import VerificationHead

# Logit for the padding slots of groups with fewer L2 classes than the largest group; finite so that
# FP16 engines do not turn it into NaN.
_PAD_LOGIT = -1.0e4
SHARED_DIM, DROPOUT = 512, 0.2  # the shared FC layer above the fused features
# The anchors have a spread of about ANCHOR_GAIN; the learned heads move a bit's pre-activation by less than
# LEARNED_REACH, so they decide the bits whose anchor is within ~0.7 spread of the threshold.
ANCHOR_GAIN, LEARNED_REACH = 1.5, 1.0


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

    def __init__(self, config: ModelConfig, feature_dim: int, regional_dim: int) -> None:
        super().__init__()
        taxonomy = config.taxonomy
        groups = taxonomy.groups
        widest = max(len(group) for group in groups)
        self.frame_logits = nn.Parameter(torch.zeros(config.num_frames))
        self.feature_dim, self.l1_bits, self.motion_weight = feature_dim, config.l1_bits, config.motion_weight
        self.reach = LEARNED_REACH
        self.trust_from, self.trust_full = config.trust_from, config.trust_full
        # The instance projection (training/instance.py): centre and planes applied to the L2-normalised video
        # descriptor (pooling.video_descriptor), and the anchors' typical spread. Until a projection is set,
        # SimHash planes around the origin; fixed buffers, never trained by the cascade's losses.
        descriptor_dim = video_descriptor_dim(regional_dim, config.motion_weight)
        planes = hyperplanes(descriptor_dim, config.code_bits) / np.sqrt(descriptor_dim)
        self.register_buffer("instance_centre", torch.zeros(descriptor_dim))
        self.register_buffer("instance_planes", torch.from_numpy(planes).float())
        self.register_buffer("instance_spread", torch.ones(()))
        l2_gate = torch.ones(config.l2_bits)
        l2_gate[config.l2_bits - config.anchor_only_bits :] = 0.0
        self.register_buffer("l2_offset_gate", l2_gate, persistent=False)
        self.shared = nn.Sequential(nn.Linear(feature_dim, SHARED_DIM), nn.ReLU(), nn.Dropout(DROPOUT))
        # The learned offsets also see the standardised fused features directly, beside the FC path; the L2
        # part of that map is shared by all groups, so a video whose L1 prediction flips under an edit
        # keeps most of its L2 offsets.
        self.feature_norm = nn.BatchNorm1d(feature_dim, affine=False)
        self.l1_hash = nn.Linear(SHARED_DIM, config.l1_bits)
        self.l1_feature_hash = nn.Linear(feature_dim, config.l1_bits, bias=False)
        self.l2_feature_hash = nn.Linear(feature_dim, config.l2_bits, bias=False)
        self.l1_classifier = nn.Linear(config.l1_bits, len(taxonomy.l1_names))
        count = len(groups)
        self.l2_hash_weight = nn.Parameter(torch.empty(count, SHARED_DIM, config.l2_bits))
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

    def set_instance_projection(self, centre: np.ndarray, planes: np.ndarray, descriptors: np.ndarray) -> None:
        """Install the instance stage's projection; ``descriptors`` (video descriptors of training videos) set
        the anchors' scale, so that their spread is about ``ANCHOR_GAIN`` (a scalar: no bit changes)."""
        expected = tuple(self.instance_planes.shape)
        if np.shape(planes) != expected or np.shape(centre) != expected[:1]:
            raise ModelError(
                f"the instance projection's planes are {np.shape(planes)}, this model's video descriptor needs "
                f"{expected} (motion_weight {self.motion_weight}): fit it on this model's descriptors"
            )
        self.instance_centre.copy_(torch.as_tensor(centre, dtype=torch.float32))
        self.instance_planes.copy_(torch.as_tensor(planes, dtype=torch.float32))
        self.instance_spread.fill_(1.0)
        with torch.no_grad():
            scores = self._instance_scores(torch.as_tensor(np.asarray(descriptors), dtype=torch.float32))
        self.instance_spread.fill_(float(scores.std()))

    def _instance_scores(self, descriptors: torch.Tensor) -> torch.Tensor:
        return (F.normalize(descriptors, dim=1) - self.instance_centre) @ self.instance_planes / self.instance_spread

    def anchors(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` pre-activations of the instance bits: the projection of the video descriptor, scaled to a
        spread of about ``ANCHOR_GAIN``."""
        descriptors = video_descriptor(features[..., self.feature_dim :], self.motion_weight)
        return self._instance_scores(descriptors) * ANCHOR_GAIN

    def _offset(self, learned: torch.Tensor) -> torch.Tensor:
        """A head's output squashed into ``±LEARNED_REACH``."""
        return self.reach * torch.tanh(learned / self.reach)

    def trust(self, l1_logits: torch.Tensor) -> torch.Tensor:
        """``[B, 1]`` how much of the heads' offsets enter the code: 0 up to L1 probability ``trust_from``,
        rising linearly to 1 at ``trust_full``.

        Footage unlike every trained category (low, unstable L1 probability; its predicted group flips under
        small edits) keeps the instance anchors, so a near-duplicate is not re-coded by another group's
        head; recognised videos get the category bits. Linear, not a step, so that an edit that moves the
        probability a little moves the pre-activations a little and flips few bits.
        """
        confidence = torch.softmax(l1_logits.detach(), dim=1).amax(dim=1, keepdim=True)
        return ((confidence - self.trust_from) / (self.trust_full - self.trust_from)).clamp(0.0, 1.0)

    def forward(self, features: torch.Tensor, group: torch.Tensor | None = None) -> HeadOutput:
        """``group`` forces which L2 head runs (teacher forcing in training); default: the L1 prediction."""
        fused = (features[..., : self.feature_dim] * self.fusion_weights().view(1, -1, 1)).sum(dim=1)
        shared = self.shared(fused)
        standardised = self.feature_norm(fused)
        anchor = self.anchors(features)
        l1_anchor, l2_anchor = anchor[:, : self.l1_bits], anchor[:, self.l1_bits :]
        l1_offset = self._offset(self.l1_hash(shared) + self.l1_feature_hash(standardised))
        l1_logits = self.l1_classifier(torch.sigmoid(l1_anchor + l1_offset))
        if group is None:
            group = l1_logits.argmax(dim=1)
        # the classifier sees the heads' full say; the code gets it in proportion to the trust
        trust = self.trust(l1_logits)
        l1_pre = l1_anchor + l1_offset * trust
        l1_soft = torch.sigmoid(l1_pre)
        l2_learned = torch.bmm(shared.unsqueeze(1), self.l2_hash_weight[group]).squeeze(1)
        l2_learned = l2_learned + self.l2_hash_bias[group] + self.l2_feature_hash(standardised)
        l2_pre = l2_anchor + self._offset(l2_learned) * trust * self.l2_offset_gate
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


class DeepHashNet(nn.Module):
    """The whole model; ``forward`` is the serving/export signature.

    Outputs: packed code ``uint8 [B, L/8]``, L1 id ``int64 [B]``, L1 probability ``float [B]``, L2 id
    (global) ``int64 [B]``, L2 probability (within the predicted group) ``float [B]``, then for each extra
    label dimension its id and probability, then (``verify_dims`` > 0) the verification descriptor
    ``float [B, verify_dims]``.
    """

    def __init__(self, config: ModelConfig, backbone_weights: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = FrameEncoder.for_config(config, backbone_weights)
        self.head = CascadeHead(config, self.encoder.feature_dim, self.encoder.regional_dim)
        self.verification = None
        if config.verify_dims:
            descriptor_dim = video_descriptor_dim(self.encoder.regional_dim, config.motion_weight)
            self.verification = VerificationHead(
                self.encoder.feature_dim, descriptor_dim, config.verify_dims, config.motion_weight
            )
        self.register_buffer("bit_weights", 2 ** torch.arange(7, -1, -1, dtype=torch.float32))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.encoder(frames)
        outputs = self.outputs_from_head(self.head(features))
        return outputs if self.verification is None else (*outputs, self.verification(features))

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
