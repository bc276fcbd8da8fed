"""Procedural videos: a camera moving over a procedural canvas with sprites moving across it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from deephash.data.procedural.colour import colour_tuple, random_palette
from deephash.data.procedural.compose import procedural_image
from deephash.data.procedural.fields import log_uniform
from deephash.data.procedural.generators import random_generator
from deephash.data.procedural.leaves import unit_outlines
from deephash.data.procedural.text import CHARSETS, load_font, random_words


@dataclass(frozen=True)
class _Sprite:
    colour: Image.Image  # RGB
    mask: Image.Image  # L
    corners: np.ndarray  # [frames, 2] int top-left corner in the frame, per frame


def _shape_sprite(rng: np.random.Generator, height: int, width: int) -> tuple[Image.Image, Image.Image]:
    """A shape (ellipse, rectangle or polygon) filled with a flat colour or a procedural texture."""
    size = max(4, int(min(height, width) * rng.uniform(0.12, 0.4)))
    outline = unit_outlines(rng, 1)[0] * (size / 2 - 1) + size / 2
    mask = Image.new("L", (size, size))
    ImageDraw.Draw(mask).polygon(outline.ravel().tolist(), fill=255)
    if rng.random() < 0.5:
        return Image.new("RGB", mask.size, colour_tuple(random_palette(rng, 1)[0])), mask
    return Image.fromarray(random_generator(rng)(rng, size, size)), mask


def _text_sprite(rng: np.random.Generator, height: int, width: int) -> tuple[Image.Image, Image.Image]:
    """A word or two in one colour, often outlined in another, like a moving caption or logo."""
    font = load_font(int(log_uniform(rng, 10, max(11, min(height, width) / 5))))
    words = " ".join(random_words(rng, int(rng.integers(1, 3)), CHARSETS[rng.integers(len(CHARSETS))]))
    outline = int(rng.integers(0, 3))
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), words, font=font, stroke_width=outline
    )
    fill, stroke = (colour_tuple(c) for c in random_palette(rng, 2))
    colour, mask = Image.new("RGB", (right - left, bottom - top)), Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(colour).text((-left, -top), words, font=font, fill=fill, stroke_width=outline, stroke_fill=stroke)
    ImageDraw.Draw(mask).text((-left, -top), words, font=font, fill=255, stroke_width=outline, stroke_fill=255)
    return colour, mask


def _sprite(rng: np.random.Generator, frames: int, height: int, width: int) -> _Sprite:
    """A shape or text moving in a straight line at constant speed from anywhere in the frame (it may enter or
    leave across an edge), independently of the camera."""
    colour, mask = _text_sprite(rng, height, width) if rng.random() < 0.4 else _shape_sprite(rng, height, width)
    start = rng.uniform((-mask.width / 2, -mask.height / 2), (width - mask.width / 2, height - mask.height / 2))
    angle, speed = rng.uniform(0, 2 * np.pi), width * log_uniform(rng, 0.003, 0.03)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    return _Sprite(colour, mask, np.rint(start + np.arange(frames)[:, None] * velocity).astype(int))


def _zoom_path(rng: np.random.Generator, frames: int, fit: float, zoom: bool) -> np.ndarray:
    """``[frames]`` crop-window scale (1 = frame size): constant, or changing at a constant slow rate (up to
    about 1.2% a frame), kept between 0.75 (slight upsampling) and ``fit`` (the whole canvas)."""
    first = rng.uniform(min(0.85, fit), fit)
    if not zoom:
        return np.full(frames, first)
    rate = log_uniform(rng, 0.002, 0.012) * rng.choice([-1, 1])
    last = np.clip(first * np.exp(rate * max(frames - 1, 1)), min(0.75, fit), fit)
    return first * (last / first) ** (np.arange(frames) / max(frames - 1, 1))


def _pan_path(rng: np.random.Generator, frames: int, room: np.ndarray, frame_width: int, pan: bool) -> np.ndarray:
    """``[frames, 2]`` window centres relative to the lowest allowed centre: constant velocity in a random
    direction at up to 1.5% of the frame width a frame, slowed on an axis if the path would leave ``room``."""
    speed = frame_width * log_uniform(rng, 0.002, 0.015) if pan else 0.0
    angle, steps = rng.uniform(0, 2 * np.pi), max(frames - 1, 1)
    travel = np.clip(speed * steps * np.array([np.cos(angle), np.sin(angle)]), -room, room)
    start = rng.uniform(np.maximum(-travel, 0), room - np.maximum(travel, 0))
    return start + np.arange(frames)[:, None] * travel / steps


def _camera_path(rng: np.random.Generator, frames: int, canvas: Image.Image, width: int, height: int) -> np.ndarray:
    """``[frames, 4]`` crop boxes (left, top, right, bottom) in canvas pixels: a pan, a slow zoom or both,
    always inside the canvas; float boxes give smooth sub-pixel motion."""
    move = rng.choice(3, p=[0.45, 0.2, 0.35])  # pan, zoom, both
    fit = min(canvas.width / width, canvas.height / height)
    half = _zoom_path(rng, frames, fit, zoom=move > 0)[:, None] * np.array([width, height]) / 2
    widest = half.max(axis=0)
    room = np.maximum(np.array(canvas.size) - 2 * widest, 0)
    centres = widest + _pan_path(rng, frames, room, width, pan=move != 1)
    return np.concatenate([centres - half, centres + half], axis=1)


def procedural_video(rng: np.random.Generator, frames: int, height: int, width: int) -> list[np.ndarray]:
    """frames x uint8 [height, width, 3]: a camera move (pan and/or slow zoom, random direction and speed)
    over a larger procedural canvas, with 0-3 sprites (shapes or text) moving across it; consecutive frames
    change smoothly; two calls with different rng states give clearly different videos.

    The canvas is 1.35-1.7x the frame on each side; a moving crop resampled per frame gives seamless camera
    motion (without parallax), so clips teach invariance to small shifts and zooms the way short real shots do."""
    return _video_over_canvas(rng, _canvas(rng, height, width, rng.uniform(1.35, 1.7)), frames, height, width)


def look_alike_videos(
    rng: np.random.Generator, count: int, frames: int, height: int, width: int
) -> list[list[np.ndarray]]:
    """``count`` videos of one scene: each its own camera move and sprites over one shared canvas, 1.8-2.4x the
    frame on each side, so their windows overlap in part, as several shots panning over one photo do. A
    descriptor must tell these apart by more than what the scene looks like on average."""
    canvas = _canvas(rng, height, width, rng.uniform(1.8, 2.4))
    return [_video_over_canvas(rng, canvas, frames, height, width) for _ in range(count)]


def _canvas(rng: np.random.Generator, height: int, width: int, scale: float) -> Image.Image:
    return Image.fromarray(procedural_image(rng, int(np.ceil(height * scale)), int(np.ceil(width * scale))))


def _video_over_canvas(
    rng: np.random.Generator, canvas: Image.Image, frames: int, height: int, width: int
) -> list[np.ndarray]:
    """frames x uint8 [height, width, 3]: a camera move over ``canvas`` with 0-3 sprites moving across it."""
    boxes = _camera_path(rng, frames, canvas, width, height)
    sprites = [_sprite(rng, frames, height, width) for _ in range(rng.integers(0, 4))]
    video = []
    for index, box in enumerate(boxes.tolist()):
        frame = canvas.resize((width, height), Image.BILINEAR, box=tuple(box))
        for sprite in sprites:
            frame.paste(sprite.colour, tuple(sprite.corners[index].tolist()), sprite.mask)
        video.append(np.array(frame))
    return video
