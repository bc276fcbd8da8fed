"""Edits of time: playback speed, frame rate, trimming; and composition of edits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deephash.data.families.clip import Clip, Edit


@dataclass(frozen=True)
class Speed:
    factor: float  # > 1 plays faster (fewer frames over the same content)

    def __call__(self, clip: Clip) -> Clip:
        count = max(1, int(round(len(clip.frames) / self.factor)))
        picks = np.minimum((np.arange(count) * self.factor).astype(int), len(clip.frames) - 1)
        return Clip([clip.frames[i] for i in picks], clip.fps)


@dataclass(frozen=True)
class FrameRate:
    fps_factor: float  # the new frame rate over the old; the duration stays

    def __call__(self, clip: Clip) -> Clip:
        count = max(1, int(round(len(clip.frames) * self.fps_factor)))
        picks = np.minimum((np.arange(count) / self.fps_factor).astype(int), len(clip.frames) - 1)
        return Clip([clip.frames[i] for i in picks], clip.fps * self.fps_factor)


@dataclass(frozen=True)
class Trim:
    keep: float  # share of the video kept
    start: float  # where the kept part starts, as a share of what may be cut

    def __call__(self, clip: Clip) -> Clip:
        count = len(clip.frames)
        kept = max(1, int(round(count * self.keep)))
        first = int((count - kept) * self.start)
        return Clip(clip.frames[first : first + kept], clip.fps)


@dataclass(frozen=True)
class Compose:
    edits: tuple[Edit, ...]

    def __call__(self, clip: Clip) -> Clip:
        for edit in self.edits:
            clip = edit(clip)
        return clip
