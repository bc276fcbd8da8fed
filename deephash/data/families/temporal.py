"""Edits of time: playback speed, frame rate, trimming; and composition of edits.

A clip's sound follows its frames: a trim keeps the same stretch of sound, a change of speed plays the sound
faster or slower too (resampled, so its pitch moves, as a plain speed-up does), a change of frame rate keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from deephash.data.families.clip import Clip, Edit


@dataclass(frozen=True)
class Speed:
    factor: float  # > 1 plays faster (fewer frames over the same content)

    def __call__(self, clip: Clip) -> Clip:
        count = max(1, int(round(len(clip.frames) / self.factor)))
        picks = np.minimum((np.arange(count) * self.factor).astype(int), len(clip.frames) - 1)
        audio = clip.audio
        if audio is not None:
            samples = audio.shape[1]
            at = np.arange(max(1, int(round(samples / self.factor)))) * self.factor
            audio = np.stack([np.interp(at, np.arange(samples), channel) for channel in audio]).astype(np.float32)
        return replace(clip, frames=[clip.frames[i] for i in picks], audio=audio)


@dataclass(frozen=True)
class FrameRate:
    fps_factor: float  # the new frame rate over the old; the duration (and the sound) stays

    def __call__(self, clip: Clip) -> Clip:
        count = max(1, int(round(len(clip.frames) * self.fps_factor)))
        picks = np.minimum((np.arange(count) / self.fps_factor).astype(int), len(clip.frames) - 1)
        return replace(clip, frames=[clip.frames[i] for i in picks], fps=clip.fps * self.fps_factor)


@dataclass(frozen=True)
class Trim:
    keep: float  # share of the video kept
    start: float  # where the kept part starts, as a share of what may be cut

    def __call__(self, clip: Clip) -> Clip:
        count = len(clip.frames)
        kept = max(1, int(round(count * self.keep)))
        first = int((count - kept) * self.start)
        audio = clip.audio
        if audio is not None:
            samples = audio.shape[1]
            audio = audio[:, samples * first // count : samples * (first + kept) // count]
        return replace(clip, frames=clip.frames[first : first + kept], audio=audio)


@dataclass(frozen=True)
class Compose:
    edits: tuple[Edit, ...]

    def __call__(self, clip: Clip) -> Clip:
        for edit in self.edits:
            clip = edit(clip)
        return clip
