"""Sample T frames evenly over a video by seeking, resized and centre-cropped to a square.

Layout of the result: ``uint8 [T, 3, size, size]``, RGB, channels first — the model input for one video
(normalisation happens inside the model graph, so every serving path sends these exact bytes).

Seeking instead of decoding the whole file keeps a 10-minute 1080p upload as cheap as a 5-second clip. The
exact sampler decodes from the preceding keyframe up to each target time; the keyframe sampler decodes only
the nearest keyframe (seeking.py). A model records which one it was trained with (``ModelConfig.sampler``),
so a library's codes and its queries always come from the same one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np

from deephash.errors import NoVideoStream, VideoLimitExceeded
from deephash.video.container import VideoSource, check_size, duration_s, open_container
from deephash.video.region import ANALYSIS_WIDTH, Region, active_region
from deephash.video.seeking import frames_at_keyframes, frames_by_decoding, frames_by_seeking

SAMPLER_VERSION = 2  # changes whenever the same video would give other frames (caches of features key on it)
DEFAULT_NUM_FRAMES = 5
DEFAULT_FRAME_SIZE = 224
# the exact sampler reads where the keyframes are (a demux pass, a few ms) to decode on through a group of
# pictures instead of seeking back for each target; longer inputs are sought per target, as reading them costs more
DECODE_ON_UP_TO_S = 180.0
SAMPLERS = ("exact", "keyframes")  # seeking.py: the frame on screen at each target, or the nearest keyframe


@dataclass(frozen=True)
class FrameSpec:
    """What a model takes from each video: ``count`` frames, ``size`` pixels square. Every path (training,
    evaluation, the embedded hasher, Triton clients, the service) samples through this one contract, so the
    same video always becomes the same bytes."""

    count: int = DEFAULT_NUM_FRAMES
    size: int = DEFAULT_FRAME_SIZE
    sampler: str = "exact"

    def __post_init__(self) -> None:
        if self.count < 1 or self.size < 1:
            raise ValueError(f"a frame spec needs at least one frame of at least one pixel, got {self}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}: choose one of {', '.join(SAMPLERS)}")

    def doubled(self) -> FrameSpec:
        """Twice the frames at the same size: the 2T samples an intra-pair is split from."""
        return replace(self, count=2 * self.count)

    @property
    def sampler_key(self) -> str | int:
        """What caches of sampled frames key on: the sampler's version, and its kind unless exact."""
        return SAMPLER_VERSION if self.sampler == "exact" else f"{SAMPLER_VERSION}-{self.sampler}"


@dataclass(frozen=True)
class VideoLimits:
    """Inputs outside these limits are refused before (or while) decoding."""

    max_file_bytes: int = 2 * 1024**3
    max_width: int = 7680
    max_height: int = 4320
    max_duration_s: float = 6 * 3600.0
    decode_timeout_s: float = 60.0
    max_streams: int = 16  # a real upload has a few; thousands are a resource attack on the demuxer


@dataclass(frozen=True)
class SampledFrames:
    """Frames of one video plus what a caller needs to judge them."""

    frames: np.ndarray  # uint8 [T, 3, size, size], RGB
    timestamps_s: tuple[float, ...]
    distinct_frames: int
    duration_s: float
    width: int
    height: int
    region: Region = Region()  # the active region the frames were cropped to (region.py)

    @property
    def repeated(self) -> bool:
        """True when the video had fewer decodable frames than requested and some were repeated."""
        return self.distinct_frames < len(self.timestamps_s)


def sample_frames(
    source: VideoSource, spec: FrameSpec = FrameSpec(), limits: VideoLimits = VideoLimits()
) -> SampledFrames:
    """T frames: those on screen at the centres of T equal slices of the video's duration."""
    return _sample(source, spec, limits)


def sample_intra_pair(
    source: VideoSource, spec: FrameSpec = FrameSpec(), limits: VideoLimits = VideoLimits()
) -> tuple[SampledFrames, SampledFrames]:
    """Two disjoint, interleaved frame sets of one video (frames 1,3,5,.. and 2,4,6,.. of 2T samples).

    This is the training pair of the intra-pair loss: two views of the same content that share no frame.
    """
    both = sample_frames(source, spec.doubled(), limits)
    return _take(both, slice(0, None, 2)), _take(both, slice(1, None, 2))


def _take(sampled: SampledFrames, which: slice) -> SampledFrames:
    frames = sampled.frames[which]
    distinct = len({frame.tobytes() for frame in frames})
    timestamps = sampled.timestamps_s[which]
    return replace(sampled, frames=np.ascontiguousarray(frames), timestamps_s=timestamps, distinct_frames=distinct)


def check_file_size(path: Path, limits: VideoLimits) -> None:
    """Refuse a file over the size limit before anything reads it (raises :class:`FileTooLarge`)."""
    check_size(Path(path).stat().st_size, limits.max_file_bytes)


def _sample(source: VideoSource, spec: FrameSpec, limits: VideoLimits) -> SampledFrames:
    started = time.monotonic()
    with open_container(source, limits.max_file_bytes) as container:
        if len(container.streams) > limits.max_streams:
            raise VideoLimitExceeded(f"{len(container.streams)} streams exceed the limit of {limits.max_streams}")
        if not container.streams.video:
            raise NoVideoStream("the file has no video stream")
        stream = container.streams.video[0]
        # whole groups of pictures decode faster with frame threads; single keyframes gain nothing from them
        stream.thread_type = "AUTO" if spec.sampler == "exact" else "SLICE"
        width, height = stream.codec_context.width, stream.codec_context.height
        if width > limits.max_width or height > limits.max_height:
            raise VideoLimitExceeded(f"{width}x{height} exceeds the limit of {limits.max_width}x{limits.max_height}")
        duration = duration_s(container, stream)
        if duration > limits.max_duration_s:
            raise VideoLimitExceeded(f"duration {duration:.0f} s exceeds the limit of {limits.max_duration_s:.0f} s")
        targets = [duration * (index + 0.5) / spec.count for index in range(spec.count)]
        deadline = started + limits.decode_timeout_s
        decode_on = duration <= DECODE_ON_UP_TO_S
        frames = None
        if duration > 0 and spec.sampler == "exact":
            frames = frames_by_seeking(container, stream, targets, deadline, decode_on)
        elif duration > 0:  # a keyframe serves a target inside the target's own slice of the video
            within_s = duration / (2 * spec.count)
            frames = frames_at_keyframes(container, stream, targets, deadline, within_s, decode_on)
        if frames is None:
            frames = frames_by_decoding(container, stream, targets, deadline, rewind=duration > 0)
    region = active_region(np.stack([_grey(frame) for frame in frames]))
    images = np.stack([_square_rgb(frame, spec.size, region) for frame in frames])
    distinct = len({id(frame) for frame in frames})
    return SampledFrames(
        frames=images,
        timestamps_s=tuple(targets),
        distinct_frames=distinct,
        duration_s=duration,
        width=width,
        height=height,
        region=region,
    )


def _grey(frame: av.VideoFrame) -> np.ndarray:
    """A small grey copy of the frame, for finding its active region."""
    height = max(2, round(frame.height * ANALYSIS_WIDTH / frame.width))
    return frame.reformat(width=ANALYSIS_WIDTH, height=height, format="gray", interpolation="AREA").to_ndarray()


def _square_rgb(frame: av.VideoFrame, size: int, region: Region = Region()) -> np.ndarray:
    """Crop to ``region``, resize the short side to ``size`` (area filter), centre-crop; ``uint8 [3, size, size]``."""
    if not region.whole:
        rows, columns = region.pixels(frame.height, frame.width)
        cropped = frame.to_ndarray(format="rgb24")[rows, columns]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(cropped), format="rgb24")
    scale = size / min(frame.width, frame.height)
    width = max(size, round(frame.width * scale))
    height = max(size, round(frame.height * scale))
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size].transpose(2, 0, 1))
