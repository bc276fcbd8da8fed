"""A short video as frames, a frame rate and optionally its sound, what every edit maps; the real codec round trip."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace

import av
import numpy as np

from deephash.data.families.frame_ops import Frame, resize
from deephash.video.files import encode_video


@dataclass(frozen=True)
class Clip:
    """Frames and their rate; ``audio`` (``float32 [channels, samples]`` at ``sample_rate``), when there is sound,
    is carried along: edits of the picture keep it as it is, edits of time cut or stretch it with the frames."""

    frames: list[Frame]
    fps: float
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    def map(self, operation: Callable[[Frame], Frame]) -> Clip:
        return self.with_frames([operation(frame) for frame in self.frames])

    def with_frames(self, frames: list[Frame]) -> Clip:
        """Other frames at the same rate, over the same time (the sound kept)."""
        return replace(self, frames=frames)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.frames[0].shape[:2]


def even(value: float) -> int:
    """The largest even size up to ``value`` (H.264 in 4:2:0 wants even sides), at least 2."""
    return max(2, int(value) // 2 * 2)


def solid(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A backdrop of one random colour."""
    return np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8)


def encode_decode(clip: Clip, width: int, crf: int) -> Clip:
    """The clip downscaled to ``width`` and really encoded (H.264 at ``crf``) and decoded, in memory."""
    height, original_width = clip.size
    width = even(min(width, original_width))
    height = even(height * width / original_width)
    data = encode_video([resize(frame, width, height) for frame in clip.frames], clip.fps, crf=crf)
    with av.open(io.BytesIO(data)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]
    return clip.with_frames(frames or [resize(clip.frames[0], width, height)])


Edit = Callable[[Clip], Clip]
