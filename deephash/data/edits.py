"""Edits users make to videos, as frame operations on ``uint8 [H, W, 3]`` arrays.

One implementation serves two callers: the dataset builder applies an edit with fixed parameters to every
frame of a video to make a near-duplicate file, and training applies random edits to sampled frames to make
positives, so the codes learn to survive exactly the edits we evaluate.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Frame = np.ndarray  # uint8 [H, W, 3]


def crop(frame: Frame, keep: float, dx: float = 0.5, dy: float = 0.5) -> Frame:
    """Keep ``keep`` of each side; ``dx``/``dy`` in [0, 1] place the window (0.5 = centre)."""
    height, width = frame.shape[:2]
    new_h, new_w = max(2, int(height * keep)) // 2 * 2, max(2, int(width * keep)) // 2 * 2
    top, left = int((height - new_h) * dy), int((width - new_w) * dx)
    return np.ascontiguousarray(frame[top : top + new_h, left : left + new_w])


def resize(frame: Frame, width: int, height: int) -> Frame:
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def rescale(frame: Frame, factor: float) -> Frame:
    """Change resolution (even sides, as H.264 wants)."""
    height, width = frame.shape[:2]
    return resize(frame, max(2, int(width * factor)) // 2 * 2, max(2, int(height * factor)) // 2 * 2)


def brightness_contrast(frame: Frame, brightness: float, contrast: float) -> Frame:
    """``out = (in - 128) * contrast + 128 + brightness`` (brightness in grey levels)."""
    out = (frame.astype(np.float32) - 128.0) * contrast + 128.0 + brightness
    return np.clip(out, 0, 255).astype(np.uint8)


def hflip(frame: Frame) -> Frame:
    return np.ascontiguousarray(frame[:, ::-1])


def overlay_text(frame: Frame, text: str, position: tuple[float, float] = (0.05, 0.8)) -> Frame:
    """White text with a dark outline, sized to the frame, at a relative position."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    size = max(8, frame.shape[0] // 8)
    font = ImageFont.load_default(size=size)
    xy = (int(position[0] * frame.shape[1]), int(position[1] * frame.shape[0]))
    draw.text(xy, text, fill=(255, 255, 255), font=font, stroke_width=max(1, size // 10), stroke_fill=(0, 0, 0))
    return np.asarray(image)


def overlay_logo(frame: Frame, colour: tuple[int, int, int], corner: int = 1, size: float = 0.18) -> Frame:
    """A semi-transparent badge in one corner (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right)."""
    out = frame.copy()
    height, width = frame.shape[:2]
    side = max(4, int(min(height, width) * size))
    top = 4 if corner in (0, 1) else height - side - 4
    left = 4 if corner in (0, 2) else width - side - 4
    patch = out[top : top + side, left : left + side].astype(np.float32)
    out[top : top + side, left : left + side] = (0.35 * patch + 0.65 * np.array(colour)).astype(np.uint8)
    return out


def jpeg(frame: Frame, quality: int) -> Frame:
    """Lossy re-compression: a cheap stand-in for a low-bitrate re-encode inside training."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@dataclass(frozen=True)
class RandomEdit:
    """One random combination of edits, drawn once per video and applied to each of its frames."""

    keep: float
    dx: float
    dy: float
    flip: bool
    brightness: float
    contrast: float
    logo: tuple[int, int, int] | None
    logo_corner: int
    text: str | None
    quality: int | None
    scale: float = 1.0

    @classmethod
    def draw(cls, rng: np.random.Generator) -> RandomEdit:
        return cls(
            keep=float(rng.uniform(0.7, 1.0)) if rng.random() < 0.6 else 1.0,
            dx=float(rng.random()),
            dy=float(rng.random()),
            flip=bool(rng.random() < 0.5),
            brightness=float(rng.uniform(-40, 40)) if rng.random() < 0.6 else 0.0,
            contrast=float(rng.uniform(0.7, 1.3)) if rng.random() < 0.6 else 1.0,
            logo=tuple(int(c) for c in rng.integers(0, 256, 3)) if rng.random() < 0.3 else None,
            logo_corner=int(rng.integers(0, 4)),
            text="@user" + str(int(rng.integers(100, 999))) if rng.random() < 0.3 else None,
            quality=int(rng.integers(10, 40)) if rng.random() < 0.5 else None,
            scale=float(rng.uniform(0.2, 0.6)) if rng.random() < 0.4 else 1.0,
        )

    def apply(self, frame: Frame) -> Frame:
        height, width = frame.shape[:2]
        if self.keep < 1.0:
            frame = resize(crop(frame, self.keep, self.dx, self.dy), width, height)
        if self.flip:
            frame = hflip(frame)
        if self.brightness or self.contrast != 1.0:
            frame = brightness_contrast(frame, self.brightness, self.contrast)
        if self.logo is not None:
            frame = overlay_logo(frame, self.logo, self.logo_corner)
        if self.text is not None:
            frame = overlay_text(frame, self.text)
        if self.scale < 1.0:  # a low-resolution re-upload, scaled back up by the sampler
            frame = resize(rescale(frame, self.scale), width, height)
        if self.quality is not None:
            frame = jpeg(frame, self.quality)
        return frame


def edit_frames(frames: np.ndarray, edit: RandomEdit) -> np.ndarray:
    """Apply one edit to model-layout frames ``uint8 [T, 3, S, S]``."""
    return np.stack([edit.apply(frame.transpose(1, 2, 0)).transpose(2, 0, 1) for frame in frames])
