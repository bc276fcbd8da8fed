"""Opening an input as a video container: size check, and a clear error for what is not a video.

A file that starts like a container we know but does not open is corrupt; anything else that does not open
is "not a media file". Callers see our errors, never FFmpeg's.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import av
import av.error

from deephash.errors import CorruptVideo, FileTooLarge, NotAMediaFile

VideoSource = str | os.PathLike | bytes | BinaryIO
# FFmpeg's stream probing decodes the first pictures to learn their pixel format (for H.264 a whole keyframe, the
# cost of a sampled frame); the sampler's decoder learns it anyway, so the probe decodes nothing. Only the
# probe's decoders take this: the frames decoded afterwards are the same.
_PROBE_OPTIONS = {"skip_frame": "all"}

_CONTAINER_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"FLV"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"G"),  # MPEG-TS sync byte
    (0, b"OggS"),
)


# FFmpeg's demuxers that draw text files (plain or ANSI art, named by their extension) as pictures: such an upload
# decodes, but it is a text, not a video
_TEXT_DEMUXERS = frozenset({"tty", "bin", "idf", "xbin", "adf"})


def open_container(source: VideoSource, max_file_bytes: int) -> av.container.InputContainer:
    """``source`` opened for reading, after refusing it when it is larger than ``max_file_bytes``, and refused
    when FFmpeg reads it as a text it would draw."""
    head = _read_head(source, max_file_bytes)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        container = av.open(source, mode="r", options=_PROBE_OPTIONS)
    except av.error.FFmpegError as error:
        if not head:
            raise NotAMediaFile("the input is empty") from error
        if _looks_like_container(head):
            raise CorruptVideo(f"the container is damaged or truncated: {error}") from error
        raise NotAMediaFile(f"not a media file FFmpeg can read: {error}") from error
    demuxers = set(container.format.name.split(","))
    if demuxers & _TEXT_DEMUXERS:
        container.close()
        raise NotAMediaFile(f"a text file, not a video (FFmpeg's {container.format.name} demuxer would draw it)")
    return container


def check_size(size: int, max_file_bytes: int) -> None:
    if size > max_file_bytes:
        raise FileTooLarge(f"file of {size} bytes exceeds the limit of {max_file_bytes}")


def duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """The stream's duration, else the container's, else 0 (unknown)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _read_head(source: VideoSource, max_file_bytes: int) -> bytes:
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
    check_size(size, max_file_bytes)
    return head


def _looks_like_container(head: bytes) -> bool:
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _CONTAINER_SIGNATURES)
