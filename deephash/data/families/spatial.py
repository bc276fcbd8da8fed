"""Edits of the picture: size and compression, framing, geometry, colour, filters, overlays, screen capture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from deephash.data.families.clip import Clip, encode_decode, even
from deephash.data.families.frame_ops import Frame, crop, hflip, overlay_logo, overlay_text, resize


@dataclass(frozen=True)
class LowBitrate:
    """A small, heavily compressed re-upload (the sampler scales it back up)."""

    width: int
    crf: int

    def __call__(self, clip: Clip) -> Clip:
        return encode_decode(clip, self.width, self.crf)


@dataclass(frozen=True)
class Rescale:
    down: float  # first scaled by this
    up: float  # then to this share of the original size

    def __call__(self, clip: Clip) -> Clip:
        height, width = clip.size
        small = (even(width * self.down), even(height * self.down))
        final = (even(width * self.up), even(height * self.up))
        return clip.map(lambda frame: resize(resize(frame, *small), *final))


@dataclass(frozen=True)
class PictureInPicture:
    """The video shrunk into a region of other content (a reaction video, a compilation, a frame)."""

    scale: float
    x: float
    y: float
    backdrop: np.ndarray  # the other content, at the output size

    def __call__(self, clip: Clip) -> Clip:
        out_h, out_w = self.backdrop.shape[:2]
        height, width = clip.size
        fit = self.scale * min(out_w / width, out_h / height)
        inner_w, inner_h = even(width * fit), even(height * fit)
        left, top = int((out_w - inner_w) * self.x), int((out_h - inner_h) * self.y)

        def paste(frame: Frame) -> Frame:
            canvas = self.backdrop.copy()
            canvas[top : top + inner_h, left : left + inner_w] = resize(frame, inner_w, inner_h)
            return canvas

        return clip.map(paste)


@dataclass(frozen=True)
class Border:
    """Letterbox or pillarbox bars to another aspect ratio, or a coloured frame around the picture."""

    aspect: float  # width / height of the output; 0 = keep, only a frame
    margin: float  # frame thickness as a share of the side
    colour: tuple[int, int, int]

    def __call__(self, clip: Clip) -> Clip:
        height, width = clip.size
        pad_h, pad_w = int(height * self.margin), int(width * self.margin)
        if self.aspect > 0:
            target_w = max(width, int(height * self.aspect))
            target_h = max(height, int(width / self.aspect))
            pad_w, pad_h = pad_w + (target_w - width) // 2, pad_h + (target_h - height) // 2

        def pad(frame: Frame) -> Frame:
            canvas = np.empty((even(height + 2 * pad_h), even(width + 2 * pad_w), 3), dtype=np.uint8)
            canvas[:] = self.colour
            canvas[pad_h : pad_h + height, pad_w : pad_w + width] = frame
            return canvas

        return clip.map(pad)


@dataclass(frozen=True)
class CropZoom:
    area: float  # share of the picture kept
    x: float
    y: float

    def __call__(self, clip: Clip) -> Clip:
        height, width = clip.size
        keep = float(np.sqrt(self.area))
        return clip.map(lambda frame: resize(crop(frame, keep, self.x, self.y), width, height))


@dataclass(frozen=True)
class Mirror:
    def __call__(self, clip: Clip) -> Clip:
        return clip.map(hflip)


@dataclass(frozen=True)
class Rotate:
    degrees: float
    zoom: bool  # crop the black corners away

    def __call__(self, clip: Clip) -> Clip:
        def turn(frame: Frame) -> Frame:
            image = Image.fromarray(frame).rotate(self.degrees, resample=Image.BILINEAR)
            rotated = np.asarray(image)
            if not self.zoom:
                return rotated
            height, width = frame.shape[:2]
            keep = 1.0 / (abs(np.cos(np.radians(self.degrees))) + abs(np.sin(np.radians(self.degrees))) * 1.2)
            return resize(crop(rotated, keep), width, height)

        return clip.map(turn)


@dataclass(frozen=True)
class Grayscale:
    def __call__(self, clip: Clip) -> Clip:
        return clip.map(lambda frame: np.repeat(np.asarray(Image.fromarray(frame).convert("L"))[..., None], 3, axis=2))


@dataclass(frozen=True)
class Colour:
    gamma: float
    brightness: float  # grey levels added
    contrast: float
    saturation: float

    def __call__(self, clip: Clip) -> Clip:
        def adjust(frame: Frame) -> Frame:
            value = (frame.astype(np.float32) / 255.0) ** self.gamma * 255.0
            grey = value.mean(axis=2, keepdims=True)
            value = grey + (value - grey) * self.saturation
            value = (value - 128.0) * self.contrast + 128.0 + self.brightness
            return np.clip(value, 0, 255).astype(np.uint8)

        return clip.map(adjust)


@dataclass(frozen=True)
class Blur:
    radius: float

    def __call__(self, clip: Clip) -> Clip:
        blur = ImageFilter.GaussianBlur(self.radius)
        return clip.map(lambda frame: np.asarray(Image.fromarray(frame).filter(blur)))


@dataclass(frozen=True)
class Noise:
    sigma: float
    seed: int

    def __call__(self, clip: Clip) -> Clip:
        rng = np.random.default_rng(self.seed)
        return clip.map(lambda frame: np.clip(frame + rng.normal(0, self.sigma, frame.shape), 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class Sharpen:
    percent: int

    def __call__(self, clip: Clip) -> Clip:
        mask = ImageFilter.UnsharpMask(radius=2, percent=self.percent, threshold=2)
        return clip.map(lambda frame: np.asarray(Image.fromarray(frame).filter(mask)))


@dataclass(frozen=True)
class Overlay:
    """Captions, a channel badge, emoji-like stickers or burnt-in subtitles."""

    kind: str  # caption | logo | stickers | subtitles
    text: str
    colour: tuple[int, int, int]
    seed: int

    def __call__(self, clip: Clip) -> Clip:
        if self.kind == "caption":
            return clip.map(lambda frame: overlay_text(frame, self.text, (0.05, 0.05)))
        if self.kind == "logo":
            return clip.map(lambda frame: overlay_logo(frame, self.colour, corner=self.seed % 4, size=0.22))
        if self.kind == "subtitles":  # two lines, each on screen for half of the video
            lines, count = [self.text, self.text.upper()], len(clip.frames)
            return clip.with_frames(
                [overlay_text(frame, lines[2 * i // count], (0.1, 0.82)) for i, frame in enumerate(clip.frames)]
            )
        return clip.map(lambda frame: _stickers(frame, np.random.default_rng(self.seed)))


def _stickers(frame: Frame, rng: np.random.Generator) -> Frame:
    """Round, saturated emoji-like stickers at fixed places (drawn again on every frame)."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    height, width = frame.shape[:2]
    for _ in range(3):
        radius = int(min(height, width) * rng.uniform(0.06, 0.12))
        cx, cy = int(rng.uniform(0.1, 0.9) * width), int(rng.uniform(0.1, 0.9) * height)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 205, 40), outline=(60, 40, 0))
        eye = max(1, radius // 5)
        for side in (-1, 1):
            ex = cx + side * radius // 3
            draw.ellipse((ex - eye, cy - radius // 3 - eye, ex + eye, cy - radius // 3 + eye), fill=(40, 30, 0))
        draw.arc((cx - radius // 2, cy - radius // 4, cx + radius // 2, cy + radius // 2), 20, 160, fill=(40, 30, 0))
    return np.asarray(image)


@dataclass(frozen=True)
class ScreenRecording:
    """The video played inside an app's screen, recorded: phone chrome around it, UI text, a resize."""

    scale: float
    dark: bool

    def __call__(self, clip: Clip) -> Clip:
        height, width = clip.size
        out_h, out_w = even(max(height, width * 16 / 9)), even(max(height, width * 16 / 9) * 9 / 16)
        inner_w = even(out_w * self.scale)
        inner_h = even(inner_w * height / width)
        top = (out_h - inner_h) // 3
        left = (out_w - inner_w) // 2
        background = (18, 18, 18) if self.dark else (245, 245, 245)
        ink = (235, 235, 235) if self.dark else (30, 30, 30)
        chrome = Image.new("RGB", (out_w, out_h), background)
        draw = ImageDraw.Draw(chrome)
        font = ImageFont.load_default(size=max(8, out_h // 40))
        draw.text((out_w // 20, out_h // 80), "9:41        5G  82%", fill=ink, font=font)
        draw.text((left, top + inner_h + out_h // 40), "@creator · 1.2M views", fill=ink, font=font)
        for index in range(4):
            x = out_w * (index + 1) // 5
            draw.ellipse((x - 8, out_h - out_h // 12 - 8, x + 8, out_h - out_h // 12 + 8), outline=ink, width=2)
        base = np.asarray(chrome)

        def record(frame: Frame) -> Frame:
            canvas = base.copy()
            canvas[top : top + inner_h, left : left + inner_w] = resize(frame, inner_w, inner_h)
            return canvas

        return clip.map(record)
