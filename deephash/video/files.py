"""Whole-file video I/O for dataset building: decode every frame, encode frames to an MP4.

Serving never uses these (it samples by seeking, see ``frames.py``); the dataset builder needs every
frame to make edited copies of short clips.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np


@dataclass(frozen=True)
class DecodedVideo:
    frames: list[np.ndarray]  # uint8 [H, W, 3] each
    fps: float
    audio: np.ndarray | None  # float32 [channels, samples]
    sample_rate: int | None


def read_video(path: Path, max_frames: int = 2000) -> DecodedVideo:
    """Every frame (up to ``max_frames``) as RGB plus the first audio track, if any."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= max_frames:
                break
    audio, rate = _read_audio(path)
    return DecodedVideo(frames=frames, fps=fps, audio=audio, sample_rate=rate)


def _read_audio(path: Path) -> tuple[np.ndarray | None, int | None]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None, None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=stream.rate)
        chunks = [out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    if not chunks:
        return None, None
    return np.concatenate(chunks, axis=1).astype(np.float32), stream.rate


def write_video(
    path: Path | BinaryIO,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    bitrate: int | None = None,
    crf: int = 23,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    audio_codec: str = "aac",
    audio_bitrate: int = 96_000,
) -> Path:
    """Encode RGB frames (even sides) to ``path`` (a file, or an in-memory MP4) with PyAV; optional stereo
    float audio."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    rate = Fraction(fps).limit_denominator(1001)
    target = {"file": str(path)} if isinstance(path, Path) else {"file": path, "format": "mp4"}
    with av.open(**target, mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        if bitrate is not None:
            stream.bit_rate = bitrate
        elif codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        audio_stream = None
        if audio is not None and sample_rate is not None:
            audio_stream = container.add_stream(audio_codec, rate=sample_rate, layout="stereo")
            audio_stream.bit_rate = audio_bitrate
        for image in _chain(first, frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            _encode_audio(container, audio_stream, audio, sample_rate)
    return path


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    block = 1024
    planar = np.ascontiguousarray(audio.astype(np.float32))
    for start in range(0, planar.shape[1], block):
        chunk = np.ascontiguousarray(planar[:, start : start + block])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = sample_rate
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def encode_video(frames: Iterable[np.ndarray], fps: float, crf: int = 23) -> bytes:
    """Frames as the bytes of an H.264 MP4 (training views then go through the same decoder and sampler as
    uploads)."""
    buffer = io.BytesIO()
    write_video(buffer, frames, fps, crf=crf)
    return buffer.getvalue()
