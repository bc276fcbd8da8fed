"""Sample T frames evenly over a video by seeking, resized and centre-cropped to a square.

Layout of the result: ``uint8 [T, 3, size, size]``, RGB, channels first — the model input for one video
(normalisation happens inside the model graph, so every serving path sends these exact bytes).

Seeking instead of decoding the whole file keeps a 10-minute 1080p upload as cheap as a 5-second clip: each
sample costs one seek to the preceding keyframe plus the frames up to the target time.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np

from deephash.errors import (
    CorruptVideo,
    DecodeTimeout,
    FileTooLarge,
    NoDecodableFrames,
    NotAMediaFile,
    NoVideoStream,
    VideoLimitExceeded,
)
from deephash.video.region import ANALYSIS_WIDTH, Region, active_region

SAMPLER_VERSION = 2  # changes whenever the same video would give other frames (caches of features key on it)
DEFAULT_NUM_FRAMES = 5
DEFAULT_FRAME_SIZE = 224

VideoSource = str | os.PathLike | bytes | BinaryIO

# Signatures of containers we know: a file that starts like one of these but does not open is corrupt,
# anything else that does not open is "not a media file".
_CONTAINER_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"G"),  # MPEG-TS sync byte
    (0, b"OggS"),
)


@dataclass(frozen=True)
class FrameSpec:
    """What a model takes from each video: ``count`` frames, ``size`` pixels square. Every path (training,
    evaluation, the embedded hasher, Triton clients, the service) samples through this one contract, so the
    same video always becomes the same bytes."""

    count: int = DEFAULT_NUM_FRAMES
    size: int = DEFAULT_FRAME_SIZE

    def __post_init__(self) -> None:
        if self.count < 1 or self.size < 1:
            raise ValueError(f"a frame spec needs at least one frame of at least one pixel, got {self}")

    def doubled(self) -> FrameSpec:
        """Twice the frames at the same size: the 2T samples an intra-pair is split from."""
        return FrameSpec(2 * self.count, self.size)


@dataclass(frozen=True)
class VideoLimits:
    """Inputs outside these limits are refused before (or while) decoding."""

    max_file_bytes: int = 2 * 1024**3
    max_width: int = 7680
    max_height: int = 4320
    max_duration_s: float = 6 * 3600.0
    decode_timeout_s: float = 60.0


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
    return _sample(source, spec.count, spec.size, limits)


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


def _open(source: VideoSource, limits: VideoLimits) -> av.container.InputContainer:
    head = _read_head(source, limits)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        return av.open(source, mode="r")
    except av.error.FFmpegError as error:
        if not head:
            raise NotAMediaFile("the input is empty") from error
        if _looks_like_container(head):
            raise CorruptVideo(f"the container is damaged or truncated: {error}") from error
        raise NotAMediaFile(f"not a media file FFmpeg can read: {error}") from error


def _read_head(source: VideoSource, limits: VideoLimits) -> bytes:
    """First bytes of the input (for the error message) and a size check."""
    if isinstance(source, bytes):
        size, head = len(source), source[:16]
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise NotAMediaFile(f"no such file: {path}")
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
    else:
        position = source.tell()
        head = source.read(16)
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(position)
    _check_size(size, limits)
    return head


def check_file_size(path: Path, limits: VideoLimits) -> None:
    """Refuse a file over the size limit before anything reads it (raises :class:`FileTooLarge`)."""
    _check_size(Path(path).stat().st_size, limits)


def _check_size(size: int, limits: VideoLimits) -> None:
    if size > limits.max_file_bytes:
        raise FileTooLarge(f"file of {size} bytes exceeds the limit of {limits.max_file_bytes}")


def _looks_like_container(head: bytes) -> bool:
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _CONTAINER_SIGNATURES)


def _sample(source: VideoSource, count: int, size: int, limits: VideoLimits) -> SampledFrames:
    if count < 1:
        raise ValueError("num_frames must be at least 1")
    started = time.monotonic()
    with _open(source, limits) as container:
        if not container.streams.video:
            raise NoVideoStream("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        if width > limits.max_width or height > limits.max_height:
            raise VideoLimitExceeded(f"{width}x{height} exceeds the limit of {limits.max_width}x{limits.max_height}")
        duration = _duration_s(container, stream)
        if duration > limits.max_duration_s:
            raise VideoLimitExceeded(f"duration {duration:.0f} s exceeds the limit of {limits.max_duration_s:.0f} s")
        targets = [duration * (index + 0.5) / count for index in range(count)]
        deadline = started + limits.decode_timeout_s
        frames = _frames_by_seeking(container, stream, targets, deadline) if duration > 0 else None
        if frames is None:
            frames = _frames_by_decoding(container, stream, targets, deadline)
    region = active_region(np.stack([_grey(frame) for frame in frames]))
    images = np.stack([_square_rgb(frame, size, region) for frame in frames])
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


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _frame_time(frame: av.VideoFrame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


def _decode(container, stream, deadline: float):
    """Decoded frames of the stream, turning FFmpeg failures and overruns into our errors."""
    try:
        for frame in container.decode(stream):
            if time.monotonic() > deadline:
                raise DecodeTimeout("decoding exceeded the time limit")
            yield frame
    except av.error.FFmpegError as error:
        raise CorruptVideo(f"decoding failed: {error}") from error


def _frames_by_seeking(container, stream, targets: list[float], deadline: float) -> list | None:
    """One seek per target; None when the stream cannot be sought (caller falls back to decoding)."""
    chosen: list = []
    start = _frame_time_offset(stream)
    for target in targets:
        try:
            container.seek(int((target + start) / stream.time_base), stream=stream, backward=True)
        except av.error.FFmpegError:
            return None
        best = None
        for frame in _decode(container, stream, deadline):
            if _frame_time(frame) - start > target + 1e-9:
                best = best or frame  # nothing decoded before the target: the first frame after it
                break
            best = frame  # the frame on screen at the target time
        if best is None:
            best = chosen[-1] if chosen else None
        if best is None:
            return None
        if chosen and best.pts == chosen[-1].pts:
            best = chosen[-1]  # the same frame again: count it once
        chosen.append(best)
    return chosen


def _frame_time_offset(stream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def _frames_by_decoding(container, stream, targets: list[float], deadline: float) -> list:
    """Decode from the start and keep the frame nearest each target (for unseekable inputs)."""
    try:
        container.seek(0)
    except av.error.FFmpegError as error:  # e.g. an image demuxer that cannot rewind after a failed seek
        raise CorruptVideo(f"the input cannot be read as a video from its start: {error}") from error
    decoded = list(_decode(container, stream, deadline))
    if not decoded:
        raise NoDecodableFrames("no frame of the video stream could be decoded")
    if len(decoded) == 1 or not targets:
        return [decoded[0]] * len(targets)
    times = np.array([_frame_time(frame) for frame in decoded])
    span = times[-1] - times[0]
    if span <= 0:
        picks = np.linspace(0, len(decoded) - 1, len(targets)).round().astype(int)
    else:
        scaled = times[0] + np.array(targets) / max(targets[-1] + targets[0], 1e-9) * span
        picks = np.abs(times[None, :] - scaled[:, None]).argmin(axis=1)
    return [decoded[index] for index in picks]


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
