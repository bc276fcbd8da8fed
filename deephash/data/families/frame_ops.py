"""Plain operations on one frame (``uint8 [H, W, 3]``) that the families' edits and the synthetic videos build on,
and the sampler's square crop of edited model-layout frames."""

from __future__ import annotations

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deephash.video.frames import _grey, _square_rgb
from deephash.video.region import active_region

Frame = np.ndarray  # uint8 [H, W, 3]


def crop(frame: Frame, keep: float, dx: float = 0.5, dy: float = 0.5) -> Frame:
    """Keep ``keep`` of each side; ``dx``/``dy`` in [0, 1] place the window (0.5 = centre)."""
    height, width = frame.shape[:2]
    new_h, new_w = max(2, int(height * keep)) // 2 * 2, max(2, int(width * keep)) // 2 * 2
    top, left = int((height - new_h) * dy), int((width - new_w) * dx)
    return np.ascontiguousarray(frame[top : top + new_h, left : left + new_w])


def resize(frame: Frame, width: int, height: int) -> Frame:
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


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


def square_frames(frames: list[Frame], size: int) -> np.ndarray:
    """``uint8 [T, 3, size, size]``: the frames as the sampler makes model input of an upload's frames (cropped
    to their active region, the short side resized to ``size``, centre-cropped), by the sampler's own code."""
    decoded = [av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24") for frame in frames]
    region = active_region(np.stack([_grey(frame) for frame in decoded]))
    return np.stack([_square_rgb(frame, size, region) for frame in decoded])
