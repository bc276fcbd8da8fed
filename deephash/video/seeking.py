"""Finding the decoded frames for a list of target times, three ways.

- :func:`frames_by_seeking` (the exact sampler): one seek per target, then every frame up to the target is
  decoded, so the frame on screen at that time is found whatever the group of pictures.
- :func:`frames_at_keyframes` (the fast sampler): the keyframe nearest each target, as long as it lies within
  the target's own slice of the video; packets are only demuxed until the keyframes around the target are
  known, and one picture is decoded per distinct keyframe, so a long group of pictures costs no more than a
  short one. Where no keyframe is that near (a short video with few keyframes), the exact frame is decoded,
  so the T frames still come from T different parts of the video.
- :func:`frames_by_decoding`: decode everything, for inputs that cannot be sought.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import av
import av.error
import numpy as np

from deephash.errors import CorruptVideo, DecodeTimeout, NoDecodableFrames


def frames_by_seeking(container, stream, targets: list[float], deadline: float) -> list | None:
    """One seek per target; None when the stream cannot be sought (caller falls back to decoding)."""
    chosen: list = []
    for target in targets:
        best = _frame_on_screen(container, stream, target, deadline)
        if best is None:
            best = chosen[-1] if chosen else None
        if best is None:
            return None
        if chosen and best.pts == chosen[-1].pts:
            best = chosen[-1]  # the same frame again: count it once
        chosen.append(best)
    return chosen


def _frame_on_screen(container, stream, target: float, deadline: float) -> av.VideoFrame | None:
    """Seek before ``target`` and decode up to the frame on screen at that time (the first frame when none
    precedes it); None when the stream cannot be sought or yields nothing."""
    start = _start_time(stream)
    try:
        container.seek(int((target + start) / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        return None
    best = None
    for frame in _decode(container, stream, deadline):
        if _frame_time(frame) - start > target + 1e-9:
            return best or frame
        best = frame
    return best


def frames_at_keyframes(container, stream, targets: list[float], deadline: float, within_s: float) -> list | None:
    """The keyframe nearest each target (the earlier one on a tie) when it lies within ``within_s`` of it,
    else the exact frame; None when the stream cannot be sought (caller falls back to decoding)."""
    start = _start_time(stream)
    decoded: dict[int, av.VideoFrame] = {}
    chosen: list = []
    around: tuple | None = None  # (time, packet) of the keyframes before and after the last target
    for target in targets:
        if around is None or not _surround(around, target):
            try:
                container.seek(int((target + start) / stream.time_base), stream=stream, backward=True)
            except av.error.FFmpegError:
                return None
            around = _keyframes_around(container, stream, target, start, deadline)
        candidates = [keyframe for keyframe in around if keyframe is not None]
        moment, packet = min(
            candidates or [(np.inf, None)], key=lambda keyframe: (abs(keyframe[0] - target), keyframe[0])
        )
        if abs(moment - target) > within_s + 1e-9:
            frame = _frame_on_screen(container, stream, target, deadline)
            around = None  # the demuxer has moved on
            if frame is None:
                return None
            chosen.append(frame)
            continue
        if packet.pts not in decoded:
            frame = _decode_alone(stream, packet)
            if frame is None:
                return None
            decoded[packet.pts] = frame
        chosen.append(decoded[packet.pts])
    return chosen


def frames_by_decoding(container, stream, targets: list[float], deadline: float) -> list:
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


def _keyframes_around(container, stream, target: float, start: float, deadline: float) -> tuple:
    """The last keyframe packet at or before ``target`` and the first after it (either may be None), read
    from the demuxer after a backward seek: no picture is decoded."""
    before = after = None
    try:
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise DecodeTimeout("reading the video exceeded the time limit")
            if packet.pts is None or not packet.is_keyframe:
                continue
            moment = float(packet.pts * stream.time_base) - start
            if moment <= target + 1e-9:
                before = (moment, packet)
            else:
                after = (moment, packet)
                break
    except av.error.FFmpegError as error:
        raise CorruptVideo(f"reading the video failed: {error}") from error
    return before, after


def _surround(around: tuple, target: float) -> bool:
    """Whether the keyframes found for an earlier target are also the ones around ``target``."""
    before, after = around
    if after is None:  # the stream ended after ``before``
        return before is not None and before[0] <= target + 1e-9
    return target < after[0] and (before is None or before[0] <= target + 1e-9)


def _decode_alone(stream, packet) -> av.VideoFrame | None:
    """The picture of one keyframe packet, decoded on its own (the decoder is drained, then reset)."""
    codec = stream.codec_context
    try:
        codec.flush_buffers()
        frames = codec.decode(packet) + codec.decode(None)
    except av.error.FFmpegError as error:
        raise CorruptVideo(f"decoding a keyframe failed: {error}") from error
    finally:
        codec.flush_buffers()
    return frames[0] if frames else None


def _decode(container, stream, deadline: float) -> Iterator[av.VideoFrame]:
    """Decoded frames of the stream, turning FFmpeg failures and overruns into our errors."""
    try:
        for frame in container.decode(stream):
            if time.monotonic() > deadline:
                raise DecodeTimeout("decoding exceeded the time limit")
            yield frame
    except av.error.FFmpegError as error:
        raise CorruptVideo(f"decoding failed: {error}") from error


def _frame_time(frame: av.VideoFrame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


def _start_time(stream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0
