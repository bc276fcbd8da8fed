"""The frame encoder: uint8 frames → the backbone's per-frame features (global average, regional GeM at one or
two scales), with the low-pass and normalisation inside the graph so every backend sees the same frames."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from deephash.model.backbones import IMAGENET_MEAN, IMAGENET_STD, backbone_spec
from deephash.model.config import DescriptorSettings, ModelConfig
from deephash.model.pooling import regional_gem, regional_regions


class FrameEncoder(nn.Module):
    """uint8 frames ``[B, T, 3, H, W]`` → per-frame features ``[B, T, output_dim]`` (normalisation in the graph).

    Layout of a frame's features: the global average of the backbone map (``feature_dim``), then the
    regional GeM descriptor (``regional_dim``, see ``pooling.py``).

    With ``detail_pool`` > 1 each frame is first averaged over ``detail_pool`` x ``detail_pool`` pixels and
    scaled back up (bilinear): a re-upload that was downscaled, blurred or re-encoded at a low bitrate has
    lost that fine detail, so a descriptor of the original that does not depend on it is closer to the copy's.
    It is part of the graph, so every backend sees the same low-passed frames.

    With ``second_scale_pool`` > 1 the backbone runs a second time on the frames as sampled, averaged down by
    that factor (112 px for 2; the averaging is that scale's low-pass): the same content at half the size fills
    the backbone's receptive fields differently, and a copy shrunk into a picture-in-picture or re-encoded small
    is described alike at the coarser scale. The regional part is then both scales' descriptors, each
    L2-normalised, the coarse one scaled by ``second_scale_weight``.
    """

    def __init__(self, settings: DescriptorSettings, weights_path: str | None = None) -> None:
        """``settings``: a model's (``ModelConfig.descriptor``), or the defaults (``DescriptorSettings.default``)
        where there is no model yet; the encoder has no defaults of its own."""
        super().__init__()
        spec = backbone_spec(settings.backbone)
        self.settings = settings
        self.feature_dim, self.instance_grid, self.detail_pool = (
            spec.feature_dim,
            settings.instance_grid,
            settings.detail_pool,
        )
        self.second_scale_pool, self.second_scale_weight = settings.second_scale_pool, settings.second_scale_weight
        scales = 2 if self.second_scale_pool > 1 else 1
        self.regional_dim = scales * regional_regions(self.instance_grid) * spec.feature_dim
        self.output_dim = self.feature_dim + self.regional_dim
        self.backbone = spec.build(weights_path)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    @classmethod
    def for_config(cls, config: ModelConfig, weights_path: str | None = None) -> FrameEncoder:
        """The encoder a model of ``config`` runs (its backbone, regional grid, low-pass and second scale)."""
        return cls(config.descriptor, weights_path)

    def extra_repr(self) -> str:
        second = f"second_scale=({self.second_scale_pool}, {self.second_scale_weight:g}), "
        return (
            f"instance_grid={self.instance_grid}, detail_pool={self.detail_pool}, "
            f"{second if self.second_scale_pool > 1 else ''}output_dim={self.output_dim}"
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, count = frames.shape[:2]
        sampled = frames.flatten(0, 1).float()
        images = sampled
        if self.detail_pool > 1:
            coarse = F.avg_pool2d(images, self.detail_pool)
            images = F.interpolate(coarse, size=images.shape[-2:], mode="bilinear", align_corners=False)
        maps = self.backbone.feature_map(self._normalised(images))
        regional = regional_gem(maps, self.instance_grid)
        if self.second_scale_pool > 1:
            small = self._normalised(F.avg_pool2d(sampled, self.second_scale_pool))
            second = regional_gem(self.backbone.feature_map(small), self.instance_grid)
            regional = torch.cat(
                [F.normalize(regional, dim=1), self.second_scale_weight * F.normalize(second, dim=1)], 1
            )
        features = torch.cat([maps.mean(dim=(2, 3)), regional], dim=1)
        return features.view(batch, count, self.output_dim)

    def _normalised(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std

    def global_part(self, features: np.ndarray) -> np.ndarray:
        """The global-average part ``[..., feature_dim]`` of encoder outputs (what the SimHash baseline uses)."""
        return features[..., : self.feature_dim]
