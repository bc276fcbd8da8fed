"""Near-duplicate transforms: a video file in, an edited video file out (what re-uploaders do)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deephash.data import edits
from deephash.video.files import DecodedVideo, read_video, write_video


@dataclass(frozen=True)
class Transform:
    name: str
    apply: Callable[[DecodedVideo, Path], Path]
    description: str


def _reencode(video: DecodedVideo, out: Path) -> Path:
    height, width = video.frames[0].shape[:2]
    bitrate = max(40_000, width * height)  # ~1 bit per pixel per second: visibly blocky
    return write_video(out, video.frames, video.fps, bitrate=bitrate, codec="libx264", **_audio(video, 32_000))


def _rescale(video: DecodedVideo, out: Path) -> Path:
    frames = [edits.rescale(frame, 0.5) for frame in video.frames]
    return write_video(out, frames, video.fps, **_audio(video))


def _crop(video: DecodedVideo, out: Path) -> Path:
    return write_video(out, [edits.crop(frame, 0.8, 0.3, 0.6) for frame in video.frames], video.fps, **_audio(video))


def _brightness(video: DecodedVideo, out: Path) -> Path:
    frames = [edits.brightness_contrast(frame, 30, 1.25) for frame in video.frames]
    return write_video(out, frames, video.fps, **_audio(video))


def _overlay(video: DecodedVideo, out: Path) -> Path:
    frames = [
        edits.overlay_text(edits.overlay_logo(frame, (230, 40, 90), corner=1), "@reupload 2026")
        for frame in video.frames
    ]
    return write_video(out, frames, video.fps, **_audio(video))


def _trim(video: DecodedVideo, out: Path) -> Path:
    count = len(video.frames)
    start, stop = int(count * 0.15), max(int(count * 0.15) + 1, int(count * 0.9))
    return write_video(out, video.frames[start:stop], video.fps, **_audio(video, trim=(0.15, 0.9)))


def _framerate(video: DecodedVideo, out: Path) -> Path:
    return write_video(out, video.frames[::2], video.fps / 2, **_audio(video))


def _flip(video: DecodedVideo, out: Path) -> Path:
    return write_video(out, [edits.hflip(frame) for frame in video.frames], video.fps, **_audio(video))


def _audio(video: DecodedVideo, bitrate: int = 96_000, trim: tuple[float, float] | None = None) -> dict:
    """Carry the audio track over (so audio codes can be tested on the same variants)."""
    if video.audio is None:
        return {}
    audio = video.audio
    if trim is not None:
        samples = audio.shape[1]
        audio = audio[:, int(samples * trim[0]) : int(samples * trim[1])]
    return {"audio": audio, "sample_rate": video.sample_rate, "audio_bitrate": bitrate}


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("reencode", _reencode, "H.264 at ~1 bit/pixel/s (blocky), audio at 32 kb/s"),
        Transform("rescale", _rescale, "half resolution"),
        Transform("crop", _crop, "keep 80% of each side, off-centre"),
        Transform("brightness", _brightness, "+30 grey levels, contrast x1.25"),
        Transform("overlay", _overlay, "text caption and a logo badge"),
        Transform("trim", _trim, "drop the first 15% and the last 10%"),
        Transform("framerate", _framerate, "half the frame rate"),
        Transform("flip", _flip, "horizontal mirror"),
    )
}


def make_variant(source: Path, transform: str, out: Path) -> Path:
    """Write ``source`` edited by the named transform to ``out``."""
    return TRANSFORMS[transform].apply(read_video(source), out)
