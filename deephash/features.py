"""Backbone features for many videos at once: decoding in threads, the backbone in ONNX Runtime.

Training (cached-feature mode), evaluation and the SimHash baseline all need per-frame backbone features
of whole splits; computing them once here and reusing them is what makes CPU training take minutes.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

from deephash.model.encoder import FrameEncoder
from deephash.model.onnx import OnnxRunner, export_onnx
from deephash.video import FrameSpec, sample_frames

Item = TypeVar("Item")
FrameLoader = Callable[[Item], np.ndarray]  # a video (its path, or an index of generated ones) → uint8 [N, 3, S, S]


class BackboneRunner:
    """A FrameEncoder exported to a temporary ONNX file and run by ONNX Runtime (~5x torch eager on CPU)."""

    def __init__(self, encoder: FrameEncoder, frame_size: int = 224) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="deephash-backbone-")
        path = Path(self._folder.name) / "encoder.onnx"
        example = torch.zeros(1, 2, 3, frame_size, frame_size, dtype=torch.uint8)
        export_onnx(encoder, example, path, ["features"], dynamic_frames=True)
        self.runner = OnnxRunner(path)
        self.output_dim = encoder.output_dim

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``[B, T, 3, S, S]`` → float32 ``[B, T, F]``."""
        return self.runner.run(np.ascontiguousarray(frames))["features"]


def sampled_frames_loader(spec: FrameSpec) -> FrameLoader:
    return lambda path: sample_frames(path, spec).frames


def extract_features(
    videos: Sequence[Item],
    backbone: BackboneRunner,
    load: FrameLoader,
    batch_videos: int = 8,
    description: str = "features",
    reduce: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``[N, T, F]`` float32 features (or what ``reduce`` makes of each batch's); frames are decoded two videos
    ahead on a thread pool."""
    outputs: list[np.ndarray] = []

    def run(batch: list[np.ndarray]) -> None:
        features = backbone(np.stack(batch))
        outputs.append(reduce(features) if reduce is not None else features)
        progress.update(len(batch))

    with ThreadPoolExecutor(max_workers=2) as pool, tqdm(total=len(videos), desc=description, unit="video") as progress:
        batch: list[np.ndarray] = []
        for frames in pool.map(load, videos):
            batch.append(frames)
            if len(batch) == batch_videos:
                run(batch)
                batch = []
        if batch:
            run(batch)
    if not outputs:
        return np.zeros((0, 0, backbone.output_dim), dtype=np.float32)
    return np.concatenate(outputs)


def video_files_key(paths: Sequence[Path]) -> list[list]:
    """What a cache of features of these files keys on: each file's resolved path (the same from any working
    folder), size, modification and change times, so footage made again at the same paths (other bytes, even with
    its modification time kept by a copy) is not served the old features."""
    stamps = []
    for path in paths:
        status = Path(path).stat()
        stamps.append([str(Path(path).resolve()), status.st_size, status.st_mtime_ns, status.st_ctime_ns])
    return stamps


def cached_array(path: Path, key: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` saved at ``path`` (with ``key`` beside it); reused while the key is unchanged."""
    key_file = path.with_suffix(".json")
    if path.is_file() and key_file.is_file() and json.loads(key_file.read_text()) == key:
        return np.load(path, mmap_mode="r")
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    key_file.write_text(json.dumps(key))
    return array


def encoder_digest(encoder: torch.nn.Module) -> str:
    """sha256 of the encoder's structure and weights: features cached for one backbone (or pooling) are never
    reused for another."""
    digest = hashlib.sha256(repr(encoder).encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
