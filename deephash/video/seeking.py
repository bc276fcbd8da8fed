"""Finding the decoded frames for a list of target times, three ways.

- :func:`frames_by_seeking` (the exact sampler): a seek per target, then every frame up to the target is
  decoded, so the frame on screen at that time is found whatever the group of pictures; targets that share a
  group of pictures are decoded in one pass.
- :func:`frames_at_keyframes` (the fast sampler): the keyframe nearest each target, as long as it lies within
  the target's own slice of the video; the keyframes around the target are read from an MP4/MOV file's index,
  or else by demuxing until they are known, and one picture is decoded per distinct keyframe, so a long group
  of pictures costs no more than a short one. Where no keyframe is that near (a short video with few
  keyframes), the exact frame is decoded, so the T frames still come from T different parts of the video.
- :func:`frames_by_decoding`: decode everything, for inputs that cannot be sought.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.error
import numpy as np

from deephash.errors import CorruptVideo, DecodeTimeout, NoDecodableFrames
from deephash.video.forward import ForwardReader, Unseekable, frame_time, packet_time, seek_before, start_time
from deephash.video.mp4_index import IndexedKeyframes

_KEPT_PER_TARGET = 8  # frames kept in memory per target when the whole stream must be decoded


def frames_by_seeking(container, stream, targets: list[float], deadline: float, decode_on: bool) -> list | None:
    """The frame on screen at each target; None when the stream cannot be sought (caller falls back to decoding).

    Each target is sought, unless ``decode_on`` and the keyframe the seek would land on lies behind the frames
    already decoded: then decoding goes on from there, so a group of pictures that holds several targets (a short
    clip with one keyframe) is decoded once, not once per target. Either way the frames are the same.
    """
    keyframes = _KeyframeIndex.read(container, stream, deadline) if decode_on else _KeyframeIndex([], -1.0)
    chosen: list = []
    reader: ForwardReader | None = None
    for target in targets:
        landing = keyframes.landing(target)
        try:
            if reader is None or landing is None or landing > reader.position:
                reader = ForwardReader.after_seek(container, stream, target, deadline)
            best = reader.frame_on_screen(target)  # may seek again, to decode a target whole
        except Unseekable:
            return None
        if best is None:
            best = chosen[-1] if chosen else None
        if best is None:
            return None
        if chosen and best.pts == chosen[-1].pts:
            best = chosen[-1]  # the same frame again: count it once
        chosen.append(best)
    return chosen


@dataclass(frozen=True)
class _KeyframeIndex:
    """Each keyframe's earliest and latest timestamp (decoding and presentation time), read by demuxing alone."""

    windows: list[tuple[float, float]]
    until: float  # keyframes after this time were not read (a stream that failed part-way)

    @classmethod
    def read(cls, container, stream, deadline: float) -> _KeyframeIndex:
        start, windows, until = start_time(stream), [], float("inf")
        try:
            for packet in container.demux(stream):
                if time.monotonic() > deadline:
                    raise DecodeTimeout("reading the video exceeded the time limit")
                stamps = [float(t * stream.time_base) - start for t in (packet.pts, packet.dts) if t is not None]
                if packet.is_keyframe and stamps:
                    windows.append((min(stamps), max(stamps)))
        except av.error.FFmpegError:
            until = windows[-1][0] if windows else -1.0
        return cls(sorted(windows), until)

    def landing(self, target: float) -> float | None:
        """Where a seek for ``target`` lands: the presentation time of the last keyframe at or before it, when
        every demuxer lands there (seeking by decoding or by presentation time); None when that is not sure."""
        if target > self.until or any(low <= target + 1e-9 < high for low, high in self.windows):
            return None
        before = [high for _, high in self.windows if high <= target + 1e-9]
        return before[-1] if before else None


def frames_at_keyframes(
    container, stream, targets: list[float], deadline: float, within_s: float, decode_on: bool
) -> list | None:
    """The keyframe nearest each target (the earlier one on a tie) when it lies within ``within_s`` of it,
    else the exact frame; the exact sampler's frames for a stream whose keyframes carry no timestamp; None
    when the stream cannot be sought (caller falls back to decoding).

    The targets no keyframe is near enough to are decoded together afterwards by :func:`frames_by_seeking`
    (``decode_on`` as there), so a short clip with one keyframe is decoded once, not once per target.
    """
    start = start_time(stream)
    indexed = IndexedKeyframes.of(container, stream)
    frames: dict[int, av.VideoFrame] = {}  # by timestamp: a frame chosen twice is one distinct frame
    chosen: list = [None] * len(targets)
    exact: list[int] = []  # the targets no keyframe is near enough to
    around: tuple | None = None  # (time, packet) of the keyframes before and after the last target
    try:
        for index, target in enumerate(targets):
            if around is None or not _surround(around, target):
                around = indexed.around(target, start) if indexed is not None else None
                if around is None:
                    seek_before(container, stream, target)
                    around = _keyframes_around(container, stream, target, start, deadline)
            candidates = [keyframe for keyframe in around if keyframe is not None]
            if not candidates:
                return frames_by_seeking(container, stream, targets, deadline, decode_on=False)
            moment, packet = min(candidates, key=lambda keyframe: (abs(keyframe[0] - target), keyframe[0]))
            if abs(moment - target) > within_s + 1e-9:
                exact.append(index)
                continue
            stamp = packet_time(packet)
            if stamp not in frames:
                frame = _decode_alone(stream, packet)
                if frame is None:
                    return None
                frames[stamp] = frame
            chosen[index] = frames[stamp]
        if exact:
            if decode_on:
                seek_before(container, stream, 0.0)  # the exact sampler reads the keyframe index from the start
            found = frames_by_seeking(container, stream, [targets[index] for index in exact], deadline, decode_on)
            if found is None:
                return None
            for index, frame in zip(exact, found):
                chosen[index] = frame if frame.pts is None else frames.setdefault(frame.pts, frame)
    except Unseekable:
        return None
    return chosen


def frames_by_decoding(container, stream, targets: list[float], deadline: float, rewind: bool) -> list:
    """Decode from the start and keep the frame nearest each target's place in the decoded span (for inputs
    that cannot be sought or have no known duration). Every frame's time is kept but only a thinning sample of
    the frames themselves (at most ``_KEPT_PER_TARGET`` per target), so a long input cannot fill the memory.
    ``rewind``: go back to the start first (after a failed attempt to seek, not on a container just opened,
    which a raw stream cannot rewind)."""
    if rewind:
        try:
            container.seek(0)
        except av.error.FFmpegError as error:  # e.g. an image demuxer that cannot rewind after a failed seek
            raise CorruptVideo(f"the input cannot be read as a video from its start: {error}") from error
    limit = max(2, _KEPT_PER_TARGET * len(targets))
    kept: dict[int, av.VideoFrame] = {}  # decode index → frame, every ``stride``-th one
    times: list[float] = []
    stride = 1
    for index, frame in enumerate(_decode(container, stream, deadline)):
        times.append(frame_time(frame))
        if index % stride == 0:
            kept[index] = frame
        if len(kept) > limit:
            stride *= 2
            kept = {kept_index: kept[kept_index] for kept_index in kept if kept_index % stride == 0}
    if not times:
        raise NoDecodableFrames("no frame of the video stream could be decoded")
    indices = np.array(sorted(kept))
    kept_times = np.array([times[index] for index in indices])
    fractions = (np.arange(len(targets)) + 0.5) / max(len(targets), 1)  # targets are slice centres
    span = times[-1] - times[0]
    if span <= 0:  # no usable timestamps: spread the picks over the decoding order
        wanted = fractions * (len(times) - 1)
        picks = np.abs(indices[None, :] - wanted[:, None]).argmin(axis=1)
    else:
        wanted = times[0] + fractions * span
        picks = np.abs(kept_times[None, :] - wanted[:, None]).argmin(axis=1)
    return [kept[int(indices[pick])] for pick in picks]


def _keyframes_around(container, stream, target: float, start: float, deadline: float) -> tuple:
    """The last keyframe packet at or before ``target`` and the first after it (either may be None), read
    from the demuxer after a backward seek: no picture is decoded."""
    before = after = None
    try:
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise DecodeTimeout("reading the video exceeded the time limit")
            if not packet.is_keyframe or packet_time(packet) is None:
                continue
            moment = float(packet_time(packet) * stream.time_base) - start
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
