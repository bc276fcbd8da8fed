"""The families of edits that re-uploads put on a video, each with a range of strengths: the one vocabulary of
edits in the project.

A family makes its edit at a strength in [0, 1] (:meth:`Family.at`: 0 the mildest of its range, 1 the
strongest; the choices that are not a matter of strength, such as where a crop sits or which way a colour moves,
come from the random generator), or drawn at random from its whole range (:meth:`Family.draw`: each setting on its
own, in the order the released model's real-footage check and instance stage drew them, so that footage made
from these draws is the footage the release measured).
An edit maps a :class:`Clip` (all frames of a short video, its frame rate and its sound) to another clip, so
temporal edits (speed, frame rate, trimming) live beside spatial ones.

Its users: the instance stage's edited training views (:func:`random_edits`, one to three families composed),
real-footage recall per family (:func:`draw_edit`), the synthetic dataset's near-duplicate variants (every
family at one fixed strength, :mod:`deephash.data.make_dataset`) and the cascade trainer's edited views of
sampled frames (:func:`random_frame_edit` and :func:`edit_sampled_frames`: the spatial families only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deephash.data.families.clip import Clip, Edit, encode_decode, even, solid
from deephash.data.families.frame_ops import square_frames
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
Size = tuple[int, int]  # (height, width) of the clip an edit is made for
Maker = Callable[[float, np.random.Generator, Backdrop, Size], Edit]  # strength, rng, backdrop, size → edit
Drawer = Callable[[np.random.Generator, Backdrop, Size], Edit]  # rng, backdrop, size → edit

__all__ = [
    "FAMILIES",
    "Backdrop",
    "Clip",
    "Edit",
    "Family",
    "draw_edit",
    "edit_sampled_frames",
    "encode_decode",
    "random_edits",
    "random_frame_edit",
]


@dataclass(frozen=True)
class Family:
    name: str
    make: Maker
    description: str  # the range, mildest first
    spatial: bool = True  # edits the picture only: one frame out per frame in, same rate, same sound
    graded: bool = True  # the strength changes the edit (a mirror, say, is one edit)

    def at(self, strength: float, rng: np.random.Generator, size: Size, backdrop: Backdrop = solid) -> Edit:
        """The edit at ``strength`` in [0, 1] (0 the mildest of the family's range, 1 the strongest) for a clip
        of ``size`` (height, width); its other choices (and a picture-in-picture's backdrop) drawn from ``rng``."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"a strength is in [0, 1], got {strength}")
        return self.make(strength, rng, backdrop, size)

    def draw(self, rng: np.random.Generator, size: Size, backdrop: Backdrop = solid) -> Edit:
        """An edit drawn from the family's whole range, every setting and choice from ``rng``."""
        return _DRAWN[self.name](rng, backdrop, size)


def _between(mild: float, strong: float, strength: float) -> float:
    return mild + (strong - mild) * strength


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _low_bitrate(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return LowBitrate(int(round(_between(199, 120, s))), int(round(_between(38, 48, s))))


def _rescale(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return Rescale(_between(0.6, 0.25, s), float(rng.uniform(0.6, 1.5)))


def _pip(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return _inset(rng, backdrop, size, lambda: _between(0.6, 0.3, s))


def _border(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    aspect = float(rng.choice([0.0, 9 / 16, 16 / 9, 1.0]))
    return Border(aspect, _between(0.0, 0.12, s), _colour(rng) if rng.random() < 0.4 else (0, 0, 0))


def _crop_zoom(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return CropZoom(_between(0.85, 0.4, s), float(rng.random()), float(rng.random()))


def _rotate(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return Rotate(_sign(rng) * _between(3, 12, s), bool(rng.random() < 0.5))


def _colour_change(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    """Each of the four moves up or down by the strength's share of its range (0: unchanged)."""
    gamma = 2.0 ** (_sign(rng) * s)  # 0.5-2
    brightness = _sign(rng) * 50.0 * s  # -50..50 grey levels
    contrast = 1.0 + 0.5 * s if rng.random() < 0.5 else 1.0 - 0.4 * s  # 0.6-1.5
    saturation = 1.0 + _sign(rng) * s  # 0-2
    return Colour(gamma, brightness, contrast, saturation)


def _overlay(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    kind = str(rng.choice(["caption", "logo", "stickers", "subtitles"]))
    return Overlay(kind, f"@user{int(rng.integers(100, 9999))} wow", _colour(rng), int(rng.integers(1 << 30)))


def _speed(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return Speed(_between(1.25, 2.0, s) if rng.random() < 0.5 else _between(0.8, 0.5, s))


def _frame_rate(s: float, rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return FrameRate((2.0, 0.5, 0.34)[min(2, int(s * 3))])  # twice the frames lose nothing; a third loses most


def _drawn_pip(rng: np.random.Generator, backdrop: Backdrop, size: Size) -> Edit:
    return _inset(rng, backdrop, size, lambda: float(rng.uniform(0.3, 0.6)))


def _inset(rng: np.random.Generator, backdrop: Backdrop, size: Size, scale: Callable[[], float]) -> Edit:
    """A picture-in-picture inside a portrait or landscape backdrop; ``scale`` is asked after the orientation is
    drawn (the released draw's order)."""
    height, width = size
    portrait = rng.random() < 0.5
    out_h, out_w = (even(max(height, width) * 1.2), even(max(height, width) * 1.2 * 9 / 16))
    if not portrait:
        out_h, out_w = out_w, out_h
    return PictureInPicture(scale(), float(rng.random()), float(rng.random()), backdrop(rng, out_h, out_w))


# Each family's random draw, settings drawn one by one in the released order (the real-footage check's variants
# and the instance stage's views are made from these; a new order would make other footage).
_DRAWN: dict[str, Drawer] = {
    "low_bitrate": lambda r, b, s: LowBitrate(int(r.integers(120, 200)), int(r.integers(38, 49))),
    "rescale": lambda r, b, s: Rescale(float(r.uniform(0.25, 0.6)), float(r.uniform(0.6, 1.5))),
    "picture_in_picture": _drawn_pip,
    "border": lambda r, b, s: Border(
        float(r.choice([0.0, 9 / 16, 16 / 9, 1.0])),
        float(r.uniform(0.0, 0.12)),
        tuple(int(c) for c in (r.integers(0, 256, 3) if r.random() < 0.4 else (0, 0, 0))),
    ),
    "crop_zoom": lambda r, b, s: CropZoom(float(r.uniform(0.4, 0.85)), float(r.random()), float(r.random())),
    "mirror": lambda r, b, s: Mirror(),
    "rotate": lambda r, b, s: Rotate(float(r.choice([-1, 1]) * r.uniform(3, 12)), bool(r.random() < 0.5)),
    "grayscale": lambda r, b, s: Grayscale(),
    "colour": lambda r, b, s: Colour(
        float(r.uniform(0.5, 2.0)), float(r.uniform(-50, 50)), float(r.uniform(0.6, 1.5)), float(r.uniform(0.0, 2.0))
    ),
    "blur": lambda r, b, s: Blur(float(r.uniform(1.0, 4.0))),
    "noise": lambda r, b, s: Noise(float(r.uniform(5, 25)), int(r.integers(1 << 30))),
    "sharpen": lambda r, b, s: Sharpen(int(r.integers(100, 300))),
    "overlay": lambda r, b, s: Overlay(
        str(r.choice(["caption", "logo", "stickers", "subtitles"])),
        f"@user{int(r.integers(100, 9999))} wow",
        tuple(int(c) for c in r.integers(0, 256, 3)),
        int(r.integers(1 << 30)),
    ),
    "speed": lambda r, b, s: Speed(float(r.choice([r.uniform(0.5, 0.8), r.uniform(1.25, 2.0)]))),
    "frame_rate": lambda r, b, s: FrameRate(float(r.choice([0.34, 0.5, 2.0]))),
    "trim": lambda r, b, s: Trim(float(r.uniform(0.4, 0.8)), float(r.random())),
    "screen_recording": lambda r, b, s: ScreenRecording(float(r.uniform(0.7, 0.95)), bool(r.random() < 0.5)),
}


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("low_bitrate", _low_bitrate, "re-encode at 199-120 px wide, H.264 CRF 38-48"),
        Family("rescale", _rescale, "downscale to 60-25 %, then up to 60-150 % (drawn)"),
        Family("picture_in_picture", _pip, "shrunk to 60-30 % inside other content"),
        Family("border", _border, "letterbox/pillarbox bars to another aspect, or a coloured frame, margin 0-12 %"),
        Family("crop_zoom", _crop_zoom, "keep 85-40 % of the area, scaled back up"),
        Family("mirror", lambda s, r, b, z: Mirror(), "horizontal mirror", graded=False),
        Family("rotate", _rotate, "rotated 3-12 degrees, corners black or cropped away"),
        Family("grayscale", lambda s, r, b, z: Grayscale(), "grey levels only", graded=False),
        Family(
            "colour", _colour_change, "gamma x2^±(0-1), brightness ±0-50, contrast 1-1.5 or 1-0.6, saturation 1±(0-1)"
        ),
        Family("blur", lambda s, r, b, z: Blur(_between(1.0, 4.0, s)), "Gaussian blur, radius 1-4 px"),
        Family(
            "noise",
            lambda s, r, b, z: Noise(_between(5, 25, s), int(r.integers(1 << 30))),
            "Gaussian noise, sigma 5-25 grey levels",
        ),
        Family("sharpen", lambda s, r, b, z: Sharpen(int(round(_between(100, 299, s)))), "unsharp mask 100-300 %"),
        Family("overlay", _overlay, "captions, a badge, stickers or subtitles", graded=False),
        Family("speed", _speed, "played 1.25-2x or 0.8-0.5x", spatial=False),
        Family("frame_rate", _frame_rate, "twice, half or a third of the rate", spatial=False),
        Family(
            "trim",
            lambda s, r, b, z: Trim(_between(0.8, 0.4, s), float(r.random())),
            "keep 80-40 % of the video",
            spatial=False,
        ),
        Family(
            "screen_recording",
            lambda s, r, b, z: ScreenRecording(_between(0.95, 0.7, s), bool(r.random() < 0.5)),
            "played in a phone app at 95-70 % of its width and screen-recorded",
        ),
    )
}
SPATIAL = tuple(name for name, family in FAMILIES.items() if family.spatial)


def draw_edit(rng: np.random.Generator, family: str, size: Size, backdrop: Backdrop = solid) -> Edit:
    """One edit of the named family at a random strength, for a clip of ``size`` (height, width)."""
    return FAMILIES[family].draw(rng, size, backdrop)


def random_edits(
    rng: np.random.Generator, size: Size, backdrop: Backdrop = solid, most: int = 3, among: tuple[str, ...] = ()
) -> Edit:
    """One to ``most`` edits of different families (of ``among``, else of all) composed, each at a random
    strength, as the positive views of training."""
    names = rng.choice(list(among or FAMILIES), size=int(rng.integers(1, most + 1)), replace=False)
    return Compose(tuple(draw_edit(rng, str(name), size, backdrop) for name in names))


def random_frame_edit(rng: np.random.Generator, size: Size, backdrop: Backdrop = solid, most: int = 3) -> Edit:
    """Like :func:`random_edits`, among the spatial families only: an edit that makes sense on frames sampled
    from a video, which have no timing left to edit."""
    return random_edits(rng, size, backdrop, most, SPATIAL)


def edit_sampled_frames(frames: np.ndarray, edit: Edit, fps: float = 10.0) -> np.ndarray:
    """A spatial edit of model-layout frames ``uint8 [T, 3, S, S]``, brought back to that layout as the sampler
    would bring an upload of the edited frames (active region, short side to S, centre crop)."""
    edited = edit(Clip([np.ascontiguousarray(frame.transpose(1, 2, 0)) for frame in frames], fps))
    if len(edited.frames) != len(frames):
        raise ValueError("edit_sampled_frames takes spatial edits only (one frame out per frame in)")
    return square_frames(edited.frames, frames.shape[-1])
