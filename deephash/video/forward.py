"""Decoding forward from a seek to the frame on screen at each of increasing target times, without decoding the
pictures that no target needs.

The frame on screen at a target is the last one presented at or before it. Every picture from the keyframe up
to it that others are predicted from must be decoded, but a picture nothing refers to (most B-frames of H.264
and HEVC) is needed only when it is the answer. So packets are read ahead until one is decoded after the target
(no later packet is presented before it); their timestamps then name the answer, and the decoder skips the
pictures nothing refers to that are presented before it. The frames are the same as a full decode's: a reader
that does not find the answer it named decodes that target again without skipping. Where timestamps are
missing, or for codecs other than H.264, nothing is skipped.
"""

from __future__ import annotations

import time
from collections import deque

import av
import av.error

from deephash.errors import CorruptVideo, DecodeTimeout

# decoders whose skipping of non-reference pictures is exact; FFmpeg's HEVC decoder also drops sub-layer
# non-reference pictures that higher temporal layers may still predict from, so HEVC is decoded whole
SKIPPING_CODECS = frozenset({"h264"})
READ_AHEAD_BYTES = 64 << 20  # packets held while looking for the answer; past this, the target is decoded whole


class Unseekable(Exception):
    """A seek failed: the caller decodes the stream from its start instead."""


class ForwardReader:
    """Frames decoded forward from one seek, asked for the frame on screen at increasing target times."""

    def __init__(self, container, stream, deadline: float, skipping: bool = True) -> None:
        self._container, self._stream, self._deadline = container, stream, deadline
        self._start = start_time(stream)
        self._skipping = skipping and stream.codec_context.name in SKIPPING_CODECS
        self._packets = container.demux(stream)
        self._pending: deque[av.Packet] = deque()  # read, not yet decoded
        self._read_all = False
        self._frames: deque[av.VideoFrame] = deque()  # decoded, not yet looked at
        # timestamps of packets sent to the decoder: frame threads and reordering hold some of their pictures
        # back, and those are candidates for the frame on screen too
        self._sent: list[int | None] = []
        self._on_screen: av.VideoFrame | None = None  # the last frame at or before the last target
        self.position = -float("inf")  # time of the last frame decoded

    @classmethod
    def after_seek(cls, container, stream, target: float, deadline: float, skipping: bool = True) -> ForwardReader:
        seek_before(container, stream, target)
        return cls(container, stream, deadline, skipping)

    def frame_on_screen(self, target: float) -> av.VideoFrame | None:
        """The last frame at or before ``target`` (the first frame decoded when none precedes it); None when
        nothing decodes."""
        answer = self._answer(target) if self._skipping else None
        while True:
            frame = self._next_frame(answer)
            if frame is None:
                break
            self.position = frame_time(frame) - self._start
            if self.position > target + 1e-9:
                self._frames.appendleft(frame)  # looked at again for the next target
                break
            self._on_screen = frame
        if answer is not None and (self._on_screen is None or self._on_screen.pts != answer):
            self._restart(target, skipping=False)  # not the frame the packets named: decode the target whole
            return self.frame_on_screen(target)
        if self._on_screen is None and self._frames:
            return self._frames[0]  # nothing precedes the target: the first frame decoded
        return self._on_screen

    def _answer(self, target: float) -> int | None:
        """The timestamp of the frame on screen at ``target`` as the packets tell it; None when they cannot."""
        limit = (target + self._start) / self._stream.time_base
        held = sum(packet.size for packet in self._pending)
        while not self._read_all and not (self._pending and _decoded_after(self._pending[-1], limit)):
            packet = self._read()
            if packet is None:
                break
            self._pending.append(packet)
            held += packet.size
            if held > READ_AHEAD_BYTES:
                return None
        stamps = [packet.pts for packet in self._pending if packet.size]
        if None in stamps:
            return None
        known = [*self._sent, *(frame.pts for frame in (*self._frames, self._on_screen) if frame is not None)]
        if None in known:
            return None
        before = [stamp for stamp in (*stamps, *known) if stamp <= limit + 1e-9 / self._stream.time_base]
        return max(before) if before else None

    def _read(self) -> av.Packet | None:
        if time.monotonic() > self._deadline:
            raise DecodeTimeout("reading the video exceeded the time limit")
        try:
            packet = next(self._packets, None)
        except av.error.FFmpegError as error:
            raise CorruptVideo(f"reading the video failed: {error}") from error
        self._read_all = packet is None
        return packet

    def _next_frame(self, answer: int | None) -> av.VideoFrame | None:
        codec = self._stream.codec_context
        while not self._frames:
            packet = self._pending.popleft() if self._pending else None if self._read_all else self._read()
            if packet is None:
                return None
            if time.monotonic() > self._deadline:
                raise DecodeTimeout("decoding exceeded the time limit")
            skip = answer is not None and packet.pts is not None and packet.pts < answer
            if skip:  # read as the packet is sent, so it holds for this packet only
                codec.skip_frame = "NONREF"
            if packet.size:
                self._sent.append(packet.pts)
            try:
                self._frames.extend(codec.decode(packet))
            except av.error.FFmpegError as error:
                raise CorruptVideo(f"decoding failed: {error}") from error
            finally:
                codec.skip_frame = "DEFAULT"
        return self._frames.popleft()

    def _restart(self, target: float, skipping: bool) -> None:
        """This reader again from a seek before ``target``, with its decoder reset."""
        self._stream.codec_context.flush_buffers()
        seek_before(self._container, self._stream, target)
        self.__init__(self._container, self._stream, self._deadline, skipping)


def seek_before(container, stream, target: float) -> None:
    """To the keyframe at or before ``target`` (seconds from the stream's start); :class:`Unseekable` if it fails."""
    try:
        container.seek(int((target + start_time(stream)) / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError as error:
        raise Unseekable from error


def _decoded_after(packet: av.Packet, limit: float) -> bool:
    """Whether ``packet`` is decoded after time ``limit`` (in time-base units): no later packet is presented
    at or before it."""
    return packet.dts is not None and packet.dts > limit


def packet_time(packet: av.Packet) -> int | None:
    """A packet's presentation time, else its decoding time (raw and AVI streams often carry only that)."""
    return packet.pts if packet.pts is not None else packet.dts


def frame_time(frame: av.VideoFrame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


def start_time(stream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0
