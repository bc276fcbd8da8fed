"""The text generator: random strings in many sizes, colours and angles, also drawn over other images."""

from __future__ import annotations

import string
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deephash.data.procedural.colour import colour_tuple, random_palette
from deephash.data.procedural.fields import log_uniform
from deephash.data.procedural.gradients import gradients
from deephash.data.procedural.noise import spectral_noise

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

CHARSETS = tuple(
    np.array(list(chars))
    for chars in (
        string.ascii_lowercase,
        string.ascii_uppercase,
        string.digits,
        string.ascii_letters + string.digits + string.punctuation,
    )
)
_TEXT_COLOURS = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.float32)


@cache
def load_font(size: int) -> Font:
    """Pillow's bundled scalable font (no font file needed), loaded once per size."""
    return ImageFont.load_default(size=size)


def random_words(rng: np.random.Generator, count: int, charset: np.ndarray) -> list[str]:
    """``count`` random strings of 1-10 characters from ``charset`` (an array of single characters)."""
    lengths = rng.integers(1, 11, count)
    letters = charset[rng.integers(0, len(charset), int(lengths.sum()))]
    ends = np.cumsum(lengths)
    return ["".join(letters[end - length : end]) for end, length in zip(ends, lengths)]


def _random_text(rng: np.random.Generator) -> str:
    """1-4 random words, sometimes 2-4 lines of them, from one character set (lowercase, capitals, digits or
    any printable), so word shapes and lengths vary like captions, signs and scores."""
    charset = CHARSETS[rng.integers(len(CHARSETS))]
    lines = 1 if rng.random() < 0.8 else int(rng.integers(2, 5))
    return "\n".join(" ".join(random_words(rng, int(rng.integers(1, 5)), charset)) for _ in range(lines))


def _rotated_text(
    rng: np.random.Generator, image: Image.Image, corner: tuple[int, int], words: str, font: Font
) -> None:
    """Text at a random angle: drawn into its own mask, rotated, and pasted as a solid colour through it."""
    left, top, right, bottom = ImageDraw.Draw(image).textbbox((0, 0), words, font=font)
    mask = Image.new("L", (right - left + 2, bottom - top + 2))
    ImageDraw.Draw(mask).text((1 - left, 1 - top), words, font=font, fill=255)
    mask = mask.rotate(rng.uniform(-90, 90), resample=Image.BILINEAR, expand=True)
    colour = colour_tuple(random_palette(rng, 1)[0])
    image.paste(colour, (*corner, corner[0] + mask.width, corner[1] + mask.height), mask)


def draw_words(rng: np.random.Generator, image: Image.Image, count: int) -> None:
    """Draw ``count`` random strings: log-uniform sizes (small print to headlines), palette, black or white
    colours, an outline on some (like subtitles), and about a quarter as rotated blocks."""
    draw = ImageDraw.Draw(image)
    colours = np.concatenate([random_palette(rng, 3), _TEXT_COLOURS])
    width, height = image.size
    for _ in range(count):
        size = int(log_uniform(rng, 7, max(8, min(width, height) / 3)))
        words = _random_text(rng)
        corner = (int(rng.uniform(-0.1, 0.9) * width), int(rng.uniform(-0.05, 0.9) * height))
        if rng.random() < 0.25:
            _rotated_text(rng, image, corner, words, load_font(size))
            continue
        fill, stroke = (colour_tuple(colours[i]) for i in rng.integers(0, len(colours), 2))
        outline = max(1, size // 12) if rng.random() < 0.25 else 0
        draw.text(corner, words, font=load_font(size), fill=fill, stroke_width=outline, stroke_fill=stroke)


def _text_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Flat colour (a title card), a gradient or a noise texture (a busy scene) behind the text."""
    choice = rng.random()
    if choice < 0.35:
        return np.full((height, width, 3), random_palette(rng, 1)[0], dtype=np.uint8)
    if choice < 0.7:
        return gradients(rng, height, width)
    return spectral_noise(rng, height, width)


def text(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random strings in many sizes, colours and angles: glyph strokes are the thin high-contrast structure of
    captions, logos and watermarks, common in copied videos and absent from the other generators."""
    image = Image.fromarray(_text_background(rng, height, width))
    draw_words(rng, image, int(rng.integers(2, 18)))
    return np.array(image)
