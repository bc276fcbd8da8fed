"""Per-frame descriptors pooled from a backbone's feature map.

Two poolings of the same map, side by side in every frame's feature vector:

- the *global average* (what the backbone's classifier sees): the features the learned heads and the
  SimHash baseline use;
- the *regional GeM descriptor*: generalised-mean pooling (p = 3, Radenović et al. 2018) over an
  overlapping ``grid x grid`` layout of regions, folded left-right so that a mirrored copy gets the same
  descriptor. Global averages of two videos of one texture or scene (two pans over one photo) are nearly
  equal; where the content sits in the frame tells them apart. The hash anchors are built from it
  (what it changed in recall: ``docs/measurements.md``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

GEM_POWER = 3.0


def _bins(size: int, parts: int) -> list[tuple[int, int]]:
    """Overlapping bins of ``size`` cells, as adaptive pooling draws them (7 cells, 3 parts: 0–3, 2–5, 4–7)."""
    return [(index * size // parts, math.ceil((index + 1) * size / parts)) for index in range(parts)]


def regional_regions(grid: int) -> int:
    """How many regions a folded ``grid x grid`` layout keeps: ``grid`` rows × ⌈grid/2⌉ column pairs."""
    return grid * math.ceil(grid / 2)


def regional_gem(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """``[N, C, H, W]`` feature maps → ``[N, regions * C]`` flip-invariant regional GeM descriptors.

    Columns ``j`` and ``grid-1-j`` are averaged (× √2, so the folded pair weighs in a dot product as the
    two regions did). The bins are plain slices whose bounds are Python constants: the map size is fixed by
    the frame size, and bounds computed in the traced graph would use ONNX's truncating integer division.
    """
    powered = maps.clamp(min=1e-6).pow(GEM_POWER)
    height, width = (int(size) for size in maps.shape[2:])
    rows, columns = _bins(height, grid), _bins(width, grid)
    cells = [
        [powered[:, :, top:bottom, left:right].mean(dim=(2, 3)).pow(1 / GEM_POWER) for left, right in columns]
        for top, bottom in rows
    ]
    regions = []
    for row in cells:
        for column in range(math.ceil(grid / 2)):
            mirror = grid - 1 - column
            if mirror == column:
                regions.append(row[column])
            else:
                regions.append((row[column] + row[mirror]) * (0.5 * math.sqrt(2.0)))
    return torch.cat(regions, dim=1)


def video_descriptor(frames: torch.Tensor, motion_weight: float) -> torch.Tensor:
    """``[..., T, R]`` regional descriptors of a video's frames (in time order) → ``[..., R]`` or ``[..., 2R]``.

    The mean of the L2-normalised frames describes what the video shows; two pans over one photo or two halves
    of one clip show much the same. With ``motion_weight`` > 0 the change over the video (the last two frames'
    mean minus the first two's) follows, scaled by it: a still video's change is zero, so its copies' codes
    do not depend on frame noise.
    """
    unit = frames / frames.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    mean = unit.mean(dim=-2)
    if motion_weight <= 0:
        return mean
    change = unit[..., -2:, :].mean(dim=-2) - unit[..., :2, :].mean(dim=-2)
    return torch.cat([mean, motion_weight * change], dim=-1)


def video_descriptor_dim(regional_dim: int, motion_weight: float) -> int:
    """Length of :func:`video_descriptor`'s output for frames of ``regional_dim``."""
    return regional_dim * (2 if motion_weight > 0 else 1)


def video_descriptor_array(frames: np.ndarray, motion_weight: float, chunk: int = 1024) -> np.ndarray:
    """:func:`video_descriptor` of a NumPy array (any float type, e.g. a float16 cache), float32, in chunks of
    ``chunk`` rows so a large cache is never converted whole."""
    rows = frames.reshape(-1, *frames.shape[-2:])
    outputs = [
        video_descriptor(torch.from_numpy(np.asarray(rows[start : start + chunk], dtype=np.float32)), motion_weight)
        for start in range(0, len(rows), chunk)
    ]
    return torch.cat(outputs).numpy().reshape(*frames.shape[:-2], -1)
