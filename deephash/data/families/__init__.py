"""The families of edits that re-uploads put on a video, each with a strength drawn from a wide range.

One definition serves both sides of the quality work: training draws random edits (often two or three
composed) to make the positive views of the self-supervised instance stage, and the evaluation applies each
family to unseen real footage to measure recall per family. A family is a function of the random generator
that returns a concrete edit; an edit maps a :class:`Clip` (all frames of a short video and its frame rate) to
another clip, so temporal edits (speed, frame rate, trimming) live beside spatial ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deephash.data.families.clip import Clip, Edit, encode_decode, even, solid
from deephash.data.families.spatial import (
    Blur,
    Border,
    Colour,
    CropZoom,
    Grayscale,
    LowBitrate,
    Mirror,
    Noise,
    Overlay,
    PictureInPicture,
    Rescale,
    Rotate,
    ScreenRecording,
    Sharpen,
)
from deephash.data.families.temporal import Compose, FrameRate, Speed, Trim

Backdrop = Callable[[np.random.Generator, int, int], np.ndarray]  # rng, height, width → uint8 image

__all__ = ["FAMILIES", "Backdrop", "Clip", "Edit", "Family", "draw_edit", "encode_decode", "random_edits"]


@dataclass(frozen=True)
class Family:
    name: str
    draw: Callable[[np.random.Generator, Backdrop, tuple[int, int]], Edit]  # rng, backdrop maker, (h, w) → edit
    description: str


def _pip(rng: np.random.Generator, backdrop: Backdrop, size: tuple[int, int]) -> Edit:
    height, width = size
    portrait = rng.random() < 0.5
    out_h, out_w = (even(max(height, width) * 1.2), even(max(height, width) * 1.2 * 9 / 16))
    if not portrait:
        out_h, out_w = out_w, out_h
    return PictureInPicture(
        float(rng.uniform(0.3, 0.6)), float(rng.random()), float(rng.random()), backdrop(rng, out_h, out_w)
    )


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "low_bitrate",
            lambda r, b, s: LowBitrate(int(r.integers(120, 200)), int(r.integers(38, 49))),
            "re-encode at 120-200 px wide, H.264 CRF 38-48",
        ),
        Family(
            "rescale",
            lambda r, b, s: Rescale(float(r.uniform(0.25, 0.6)), float(r.uniform(0.6, 1.5))),
            "downscale to 25-60 %, then up to 60-150 %",
        ),
        Family("picture_in_picture", _pip, "shrunk to 30-60 % inside other content"),
        Family(
            "border",
            lambda r, b, s: Border(
                float(r.choice([0.0, 9 / 16, 16 / 9, 1.0])),
                float(r.uniform(0.0, 0.12)),
                tuple(int(c) for c in (r.integers(0, 256, 3) if r.random() < 0.4 else (0, 0, 0))),
            ),
            "letterbox/pillarbox bars to another aspect, or a coloured frame",
        ),
        Family(
            "crop_zoom",
            lambda r, b, s: CropZoom(float(r.uniform(0.4, 0.85)), float(r.random()), float(r.random())),
            "keep 40-85 % of the area, scaled back up",
        ),
        Family("mirror", lambda r, b, s: Mirror(), "horizontal mirror"),
        Family(
            "rotate",
            lambda r, b, s: Rotate(float(r.choice([-1, 1]) * r.uniform(3, 12)), bool(r.random() < 0.5)),
            "rotated 3-12 degrees, corners black or cropped away",
        ),
        Family("grayscale", lambda r, b, s: Grayscale(), "grey levels only"),
        Family(
            "colour",
            lambda r, b, s: Colour(
                float(r.uniform(0.5, 2.0)),
                float(r.uniform(-50, 50)),
                float(r.uniform(0.6, 1.5)),
                float(r.uniform(0.0, 2.0)),
            ),
            "gamma, brightness, contrast, saturation",
        ),
        Family("blur", lambda r, b, s: Blur(float(r.uniform(1.0, 4.0))), "Gaussian blur, radius 1-4 px"),
        Family(
            "noise",
            lambda r, b, s: Noise(float(r.uniform(5, 25)), int(r.integers(1 << 30))),
            "Gaussian noise, sigma 5-25 grey levels",
        ),
        Family("sharpen", lambda r, b, s: Sharpen(int(r.integers(100, 300))), "unsharp mask 100-300 %"),
        Family(
            "overlay",
            lambda r, b, s: Overlay(
                str(r.choice(["caption", "logo", "stickers", "subtitles"])),
                f"@user{int(r.integers(100, 9999))} wow",
                tuple(int(c) for c in r.integers(0, 256, 3)),
                int(r.integers(1 << 30)),
            ),
            "captions, a badge, stickers or subtitles",
        ),
        Family(
            "speed",
            lambda r, b, s: Speed(float(r.choice([r.uniform(0.5, 0.8), r.uniform(1.25, 2.0)]))),
            "played 0.5-0.8x or 1.25-2x",
        ),
        Family(
            "frame_rate",
            lambda r, b, s: FrameRate(float(r.choice([0.34, 0.5, 2.0]))),
            "a third, half or twice the rate",
        ),
        Family(
            "trim", lambda r, b, s: Trim(float(r.uniform(0.4, 0.8)), float(r.random())), "keep 40-80 % of the video"
        ),
        Family(
            "screen_recording",
            lambda r, b, s: ScreenRecording(float(r.uniform(0.7, 0.95)), bool(r.random() < 0.5)),
            "played in a phone app and screen-recorded",
        ),
    )
}


def draw_edit(rng: np.random.Generator, family: str, size: tuple[int, int], backdrop: Backdrop = solid) -> Edit:
    """One edit of the named family at a random strength, for a clip of ``size`` (height, width)."""
    return FAMILIES[family].draw(rng, backdrop, size)


def random_edits(rng: np.random.Generator, size: tuple[int, int], backdrop: Backdrop = solid, most: int = 3) -> Edit:
    """One to ``most`` edits of different families composed, as the positive views of training."""
    names = rng.choice(list(FAMILIES), size=int(rng.integers(1, most + 1)), replace=False)
    return Compose(tuple(draw_edit(rng, str(name), size, backdrop) for name in names))
