"""The shapes-scene generator: lit spheres, boxes, pyramids and cylinders standing on a ground under a sky."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from deephash.data.procedural.colour import colour_tuple, lerp, random_palette, to_uint8

_AMBIENT = 0.3  # light every object surface gets, so faces turned away from the light are not black


def _light(rng: np.random.Generator) -> np.ndarray:
    """Unit light direction (x right, y down, z towards the viewer), from above and in front."""
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, -0.2), rng.uniform(0.3, 1.0)])
    return light / np.linalg.norm(light)


def _lit(colour: np.ndarray, normal: tuple[float, float, float], light: np.ndarray) -> tuple[int, ...]:
    """Lambert-shaded flat colour of a face with the given normal."""
    normal_ = np.asarray(normal) / np.linalg.norm(normal)
    return colour_tuple(colour * (_AMBIENT + (1 - _AMBIENT) * max(0.0, float(normal_ @ light))))


def _sky_and_ground(rng: np.random.Generator, height: int, width: int, horizon: float) -> np.ndarray:
    """Two gradients split at a slightly tilted horizon; the ground is plain or a checker floor in perspective
    (cells shrink towards the horizon), which gives the scene depth cues."""
    xs = np.arange(width, dtype=np.float32)[None, :] - width / 2
    below = np.arange(height, dtype=np.float32)[:, None] - horizon - np.tan(rng.normal(0, 0.08)) * xs
    zenith, haze, far, near = random_palette(rng, 4)
    sky = lerp(haze, zenith, np.clip(-below / max(horizon, 1.0), 0, 1) ** rng.uniform(0.5, 2))
    ground = lerp(far, near, np.clip(below / max(height - horizon, 1.0), 0, 1))
    if rng.random() < 0.5:
        depth = rng.uniform(2, 12) / np.maximum(below, 1)
        checker = (np.floor(xs * depth) + np.floor(width * rng.uniform(0.5, 1.5) * depth)) % 2
        fade = np.clip(below / (0.1 * height), 0, 1)
        ground = ground * (1 - rng.uniform(0.1, 0.5) * checker * fade)[..., None]
    return to_uint8(np.where(below[..., None] < 0, sky, ground))


def _shadow(image: Image.Image, centre: float, base: float, size: float, light: np.ndarray) -> None:
    """A translucent dark ellipse on the ground under an object, pushed away from the light."""
    x = centre - light[0] * size * 0.4
    box = (x - size * 0.6, base - size * 0.1, x + size * 0.6, base + size * 0.1)
    ImageDraw.Draw(image, "RGBA").ellipse(box, fill=(0, 0, 0, 90))


def _paste(image: Image.Image, rgb: np.ndarray, alpha: np.ndarray, corner: tuple[int, int]) -> None:
    """Composite a float ``rgb`` patch onto ``image`` through ``alpha`` in [0, 1] (PIL clips at the borders)."""
    image.paste(Image.fromarray(to_uint8(rgb)), corner, Image.fromarray(to_uint8(alpha * 255)))


def _sphere(
    rng: np.random.Generator,
    image: Image.Image,
    centre: float,
    base: float,
    size: float,
    colour: np.ndarray,
    light: np.ndarray,
) -> None:
    """A ball with Lambert shading, a specular highlight and an anti-aliased edge."""
    radius = size / 2
    left, top = int(centre - radius), int(base - size)
    ys, xs = np.mgrid[top : int(base) + 2, left : int(centre + radius) + 2].astype(np.float32) + 0.5
    nx, ny = (xs - centre) / radius, (ys - base + radius) / radius
    dist = np.hypot(nx, ny)
    nz = np.sqrt(np.clip(1 - dist**2, 0, 1))
    diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    halfway = (light + [0, 0, 1]) / np.linalg.norm(light + [0, 0, 1])
    glint = np.clip(nx * halfway[0] + ny * halfway[1] + nz * halfway[2], 0, 1) ** rng.uniform(10, 60)
    rgb = colour * (_AMBIENT + (1 - _AMBIENT) * diffuse)[..., None] + 255 * rng.uniform(0, 0.6) * glint[..., None]
    _paste(image, rgb, np.clip((1 - dist) * radius + 0.5, 0, 1), (left, top))


def _box(
    rng: np.random.Generator,
    image: Image.Image,
    centre: float,
    base: float,
    size: float,
    colour: np.ndarray,
    light: np.ndarray,
) -> None:
    """A block seen slightly from above: front, top and one side face, each flat-shaded by its normal."""
    half, top = size * rng.uniform(0.3, 0.7), base - size * rng.uniform(0.5, 1.3)
    side = rng.choice([-1, 1])
    dx, dy = side * size * rng.uniform(0.15, 0.4), -size * rng.uniform(0.1, 0.25)
    left, right = centre - half, centre + half
    edge = right if side > 0 else left
    faces = (
        ((0, 0, 1), [left, base, right, base, right, top, left, top]),
        ((0, -1, 0), [left, top, right, top, right + dx, top + dy, left + dx, top + dy]),
        ((side, 0, 0), [edge, base, edge + dx, base + dy, edge + dx, top + dy, edge, top]),
    )
    draw = ImageDraw.Draw(image)
    for normal, corners in faces:
        draw.polygon(corners, fill=_lit(colour, normal, light))


def _pyramid(
    rng: np.random.Generator,
    image: Image.Image,
    centre: float,
    base: float,
    size: float,
    colour: np.ndarray,
    light: np.ndarray,
) -> None:
    """A pyramid: two triangular faces meeting at a ridge, lit differently."""
    half = size * rng.uniform(0.35, 0.7)
    apex = (centre + size * rng.uniform(-0.1, 0.1), base - size * rng.uniform(0.7, 1.4))
    ridge = (centre + half * rng.uniform(-0.6, 0.6), base + size * 0.08)
    draw = ImageDraw.Draw(image)
    draw.polygon([(centre - half, base), ridge, apex], fill=_lit(colour, (-0.7, -0.3, 0.6), light))
    draw.polygon([ridge, (centre + half, base), apex], fill=_lit(colour, (0.7, -0.3, 0.6), light))


def _cylinder(
    rng: np.random.Generator,
    image: Image.Image,
    centre: float,
    base: float,
    size: float,
    colour: np.ndarray,
    light: np.ndarray,
) -> None:
    """An upright cylinder: a body shaded across its width, a rounded bottom and a lit elliptical top."""
    radius = size * rng.uniform(0.2, 0.45)
    cap, top = radius * rng.uniform(0.2, 0.4), base - size * rng.uniform(0.6, 1.4)
    left, upper = int(centre - radius), int(top)
    ys, xs = np.mgrid[upper : int(base + cap) + 2, left : int(centre + radius) + 2].astype(np.float32) + 0.5
    nx = (xs - centre) / radius
    inside = (np.abs(nx) < 1) & (ys >= top) & ((ys <= base) | (nx**2 + ((ys - base) / cap) ** 2 <= 1))
    diffuse = np.clip(nx * light[0] + np.sqrt(np.clip(1 - nx**2, 0, 1)) * light[2], 0, 1)
    _paste(image, colour * (_AMBIENT + (1 - _AMBIENT) * diffuse)[..., None], inside, (left, upper))
    lid = (centre - radius, top - cap, centre + radius, top + cap)
    ImageDraw.Draw(image).ellipse(lid, fill=_lit(colour, (0, -1, 0), light))


_OBJECTS = (_sphere, _box, _pyramid, _cylinder)


def shapes_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A crude scene: sky and ground split at a horizon, with 1-6 lit spheres, boxes, pyramids and cylinders
    standing on the ground, nearer ones larger and drawn later, with shadows: large objects, shading and depth."""
    horizon = rng.uniform(0.15, 0.7) * height
    image = Image.fromarray(_sky_and_ground(rng, height, width, horizon))
    count, light = int(rng.integers(1, 7)), _light(rng)
    palette = random_palette(rng, count)
    for base, colour in zip(np.sort(rng.uniform(horizon, height * 1.2, count)), palette):
        size = max(4.0, (base - horizon + 0.05 * height) * rng.uniform(0.3, 0.8))
        centre = rng.uniform(-0.1, 1.1) * width
        _shadow(image, centre, base, size, light)
        _OBJECTS[rng.integers(len(_OBJECTS))](rng, image, centre, base, size, colour, light)
    return np.array(image)
