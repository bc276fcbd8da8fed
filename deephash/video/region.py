"""The active region of a video: the part of the picture that moves while everything around it stays still.

Picture-in-picture, screen recordings and coloured frames put a video inside static content; a descriptor of
the whole picture then describes mostly that content. Cropping to the region that moves between the sampled
frames gives the original's picture back, as long as the surroundings are still. The decision is deliberately
conservative (a clear box, nearly nothing moving outside it), because a crop that the original and its copy
do not share costs more than one that is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANALYSIS_WIDTH = 128  # frames are analysed at this width, in grey
MOVING = 6.0  # grey levels of temporal standard deviation that count as motion
MIN_MOVING_SHARE = 0.005  # less motion than this: a still video, keep the whole picture
BOX_AREA = (0.01, 0.8)  # a box outside this share of the picture is not an inset
STILL_OUTSIDE = 0.01  # at most this share of the pixels outside the box may move


@dataclass(frozen=True)
class Region:
    """A box as fractions of the picture's height and width."""

    top: float = 0.0
    bottom: float = 1.0
    left: float = 0.0
    right: float = 1.0

    @property
    def whole(self) -> bool:
        return (self.top, self.bottom, self.left, self.right) == (0.0, 1.0, 0.0, 1.0)

    def pixels(self, height: int, width: int) -> tuple[slice, slice]:
        """Row and column slices of this region in a picture of ``height`` x ``width``."""
        rows = slice(int(self.top * height), max(int(self.top * height) + 1, round(self.bottom * height)))
        columns = slice(int(self.left * width), max(int(self.left * width) + 1, round(self.right * width)))
        return rows, columns


def active_region(grey: np.ndarray) -> Region:
    """The region of ``grey`` frames (``[T, h, w]``, small) that moves while its surroundings stay still."""
    if len(grey) < 3:
        return Region()
    motion = np.asarray(grey, dtype=np.float32).std(axis=0) > MOVING
    if motion.mean() <= MIN_MOVING_SHARE:
        return Region()
    rows, columns = np.nonzero(motion)
    top, bottom = np.percentile(rows, [1, 99]).astype(int)
    left, right = np.percentile(columns, [1, 99]).astype(int)
    bottom, right = bottom + 1, right + 1
    height, width = motion.shape
    outside = motion.copy()
    outside[top:bottom, left:right] = False
    area = (bottom - top) * (right - left) / motion.size
    if not (BOX_AREA[0] < area < BOX_AREA[1] and outside.mean() < STILL_OUTSIDE):
        return Region()
    if bottom - top <= 8 or right - left <= 8:
        return Region()
    return Region(top / height, bottom / height, left / width, right / width)
