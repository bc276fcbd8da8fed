"""Procedural video classes for a synthetic two-level dataset (real MP4 files, made with PyAV).

Four visually distinct L1 groups of three L2 classes each; every video draws its own colours, speeds,
sizes, counts and (for the scene group) which procedural canvas and which window of it moves across the
frame, so no two videos of a class are alike. No real photo is used: those are evaluation footage. One extra
label dimension, ``palette`` (warm / cool), comes from the drawn colours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deephash.data.families.frame_ops import resize
from deephash.model.config import Taxonomy

WIDTH, HEIGHT = 192, 144

Generator = Callable[[np.random.Generator, int, np.ndarray], list[np.ndarray]]


@dataclass(frozen=True)
class VideoClass:
    l1: str
    name: str
    render: Generator


def _grid() -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    return xs / WIDTH, ys / HEIGHT


def _palette(rng: np.random.Generator, warm: bool) -> np.ndarray:
    """Three colours of one temperature: warm = red/orange/yellow dominant, cool = blue/green dominant."""
    base = rng.uniform(0.55, 1.0, (3, 3)) * 255
    base[:, 2 if warm else 0] *= rng.uniform(0.0, 0.35, 3)
    return base.astype(np.float32)


def _background(rng: np.random.Generator, colours: np.ndarray) -> np.ndarray:
    level = rng.uniform(0.05, 0.25)
    return np.broadcast_to(colours[2] * level, (HEIGHT, WIDTH, 3)).copy()


def _finish(canvas: np.ndarray) -> np.ndarray:
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _circles(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    balls = rng.integers(2, 6)
    pos, vel = rng.uniform(0.2, 0.8, (balls, 2)), rng.uniform(-0.04, 0.04, (balls, 2))
    radius = rng.uniform(0.06, 0.16, balls)
    background, frames = _background(rng, colours), []
    for _ in range(count):
        canvas = background.copy()
        for b in range(balls):
            inside = (xs - pos[b, 0]) ** 2 + ((ys - pos[b, 1]) * 0.75) ** 2 < radius[b] ** 2
            canvas[inside] = colours[b % 2]
        pos += vel
        vel[(pos < 0.05) | (pos > 0.95)] *= -1
        frames.append(_finish(canvas))
    return frames


def _squares(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    centre, half = rng.uniform(0.35, 0.65, 2), rng.uniform(0.12, 0.25)
    angle, spin = rng.uniform(0, np.pi), rng.uniform(0.05, 0.2) * rng.choice([-1, 1])
    background, frames = _background(rng, colours), []
    for _ in range(count):
        canvas = background.copy()
        u, v = xs - centre[0], (ys - centre[1]) * 0.75
        ru, rv = np.cos(angle) * u + np.sin(angle) * v, -np.sin(angle) * u + np.cos(angle) * v
        canvas[(np.abs(ru) < half) & (np.abs(rv) < half)] = colours[0]
        canvas[(np.abs(ru) < half / 2.5) & (np.abs(rv) < half / 2.5)] = colours[1]
        angle += spin
        frames.append(_finish(canvas))
    return frames


def _triangles(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    shapes = rng.integers(3, 7)
    base = rng.uniform(0.1, 0.9, shapes)
    top = rng.uniform(-0.3, 0.8, shapes)
    size, speed = rng.uniform(0.08, 0.18, shapes), rng.uniform(0.01, 0.04, shapes)
    background, frames = _background(rng, colours), []
    for _ in range(count):
        canvas = background.copy()
        for s in range(shapes):
            dy = ys - top[s]
            inside = (dy > 0) & (dy < size[s] * 1.5) & (np.abs(xs - base[s]) < dy / 1.5)
            canvas[inside] = colours[s % 2]
        top = np.where(top > 1.0, -0.3, top + speed)
        frames.append(_finish(canvas))
    return frames


def _stripes(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(6, 14)
    speed, frames = rng.uniform(0.05, 0.2), []
    for t in range(count):
        phase = np.sin(2 * np.pi * (frequency * (np.cos(angle) * xs + np.sin(angle) * ys) + speed * t))
        mix = (phase > 0)[..., None]
        frames.append(_finish(np.where(mix, colours[0], colours[1] * 0.4)))
    return frames


def _checkerboard(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    cells, drift, frames = rng.uniform(4, 10), rng.uniform(-0.03, 0.03, 2), []
    for t in range(count):
        u = np.floor((xs + drift[0] * t) * cells) + np.floor((ys * 0.75 + drift[1] * t) * cells)
        frames.append(_finish(np.where((u % 2 == 0)[..., None], colours[0], colours[1] * 0.3)))
    return frames


def _dots(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    cells, pulse, frames = rng.uniform(5, 10), rng.uniform(0.1, 0.3), []
    background = _background(rng, colours)
    for t in range(count):
        u, v = (xs * cells) % 1 - 0.5, (ys * 0.75 * cells) % 1 - 0.5
        radius = 0.25 + 0.12 * np.sin(pulse * t)
        canvas = background.copy()
        canvas[u**2 + v**2 < radius**2] = colours[0]
        frames.append(_finish(canvas))
    return frames


def _radial(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    centre, speed, frames = rng.uniform(0.3, 0.7, 2), rng.uniform(0.01, 0.03, 2), []
    for _ in range(count):
        distance = np.sqrt((xs - centre[0]) ** 2 + ((ys - centre[1]) * 0.75) ** 2)
        weight = np.clip(distance / 0.6, 0, 1)[..., None]
        frames.append(_finish(colours[0] * (1 - weight) + colours[1] * 0.2 * weight))
        centre = np.clip(centre + speed, 0.1, 0.9)
    return frames


def _plasma(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    xs, ys = _grid()
    a, b, speed, frames = rng.uniform(3, 8), rng.uniform(3, 8), rng.uniform(0.1, 0.3), []
    for t in range(count):
        value = np.sin(a * xs * np.pi + speed * t) + np.sin(b * ys * np.pi - speed * t)
        value += np.sin((a * xs + b * ys) * np.pi + speed * t * 0.5)
        weight = ((value / 3 + 1) / 2)[..., None]
        frames.append(_finish(colours[0] * weight + colours[1] * (1 - weight)))
    return frames


def _noise_blobs(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
    coarse = rng.random((HEIGHT // 24 + 2, WIDTH // 24 + 2)).astype(np.float32)
    field = resize((coarse * 255).astype(np.uint8)[..., None].repeat(3, 2), WIDTH * 2, HEIGHT * 2)[..., 0]
    drift, frames = rng.integers(1, 4, 2), []
    for t in range(count):
        window = field[(drift[1] * t) % HEIGHT :][:HEIGHT, (drift[0] * t) % WIDTH :][:, :WIDTH]
        weight = (window.astype(np.float32) / 255.0)[..., None]
        frames.append(_finish(colours[0] * weight + colours[1] * 0.3 * (1 - weight)))
    return frames


def pan_frames(
    photo: np.ndarray,
    rng: np.random.Generator,
    count: int,
    width: int = WIDTH,
    height: int = HEIGHT,
    tint: np.ndarray | None = None,
) -> list[np.ndarray]:
    """A window of a photo panning across it (a 'Ken Burns' shot), optionally tinted."""
    photo_h, photo_w = photo.shape[:2]
    window = rng.uniform(0.45, 0.8)
    win_h = int(photo_h * window)
    win_w = int(min(photo_w, win_h * width / height))
    start = rng.uniform(0, 1, 2)
    end = np.clip(start + rng.uniform(-0.3, 0.3, 2), 0, 1)
    frames = []
    for t in range(count):
        f = t / max(1, count - 1)
        y, x = (start * (1 - f) + end * f) * [photo_h - win_h, photo_w - win_w]
        patch = resize(photo[int(y) : int(y) + win_h, int(x) : int(x) + win_w], width, height)
        frames.append(_finish(patch * tint) if tint is not None else patch)
    return frames


def _canvas_pan(generator: str) -> Generator:
    """Scene class: a camera panning over a procedural canvas of one kind, tinted towards the palette.

    Procedural, not photographic: real photos are evaluation footage and never training data.
    """

    def render(rng: np.random.Generator, count: int, colours: np.ndarray) -> list[np.ndarray]:
        from deephash.data.procedural import GENERATORS

        canvas = GENERATORS[generator](rng, 2 * HEIGHT, 2 * WIDTH)
        return pan_frames(canvas, rng, count, tint=colours[0] / 255.0 * 0.3 + 0.7)

    return render


CLASSES: tuple[VideoClass, ...] = (
    VideoClass("geometry", "bouncing_circles", _circles),
    VideoClass("geometry", "spinning_squares", _squares),
    VideoClass("geometry", "falling_triangles", _triangles),
    VideoClass("pattern", "moving_stripes", _stripes),
    VideoClass("pattern", "drifting_checkerboard", _checkerboard),
    VideoClass("pattern", "pulsing_dots", _dots),
    VideoClass("field", "radial_glow", _radial),
    VideoClass("field", "plasma", _plasma),
    VideoClass("field", "noise_clouds", _noise_blobs),
    VideoClass("scene", "leaves", _canvas_pan("dead_leaves")),
    VideoClass("scene", "lettering", _canvas_pan("text")),
    VideoClass("scene", "shapes", _canvas_pan("shapes_scene")),
)

PALETTES = ("warm", "cool")


def taxonomy() -> Taxonomy:
    l1 = tuple(dict.fromkeys(video_class.l1 for video_class in CLASSES))
    return Taxonomy(
        l1_names=l1,
        l2_names=tuple(video_class.name for video_class in CLASSES),
        l2_parent=tuple(l1.index(video_class.l1) for video_class in CLASSES),
        extra={"palette": PALETTES},
    )


def render_video(l2: int, seed: int, count: int) -> tuple[list[np.ndarray], int]:
    """Frames of one random video of class ``l2`` and its palette label (0 warm, 1 cool)."""
    rng = np.random.default_rng(seed)
    palette = int(rng.integers(len(PALETTES)))
    colours = _palette(rng, warm=palette == 0)
    return CLASSES[l2].render(rng, count, colours), palette
