"""A model on disk: one folder that describes itself.

::

    config.json     ModelConfig (backbone, bits, taxonomy)       labels.json   category names
    weights.pt      state dict of DeepHashNet                    mask.npz      category masks + ratio r
    model.onnx      the exported cascade (serving)               metadata.json version, training, metrics

The model version is the sha256 of ``model.onnx``; before export it is the sha256 of
``weights.pt``. Codes of two versions are not comparable, so every library records it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from deephash.errors import ModelError
from deephash.model.config import LABELS_FILE, ModelConfig

if TYPE_CHECKING:  # torch stays out of processes that only serve the ONNX file
    from deephash.model.network import DeepHashNet

FORMAT_VERSION = 2  # 2: the constants of the network (shared width, dropout, anchor gain, reach) left the config
DEFAULT_MODEL_DIR = Path("artifacts/default-model")  # what the README's set-up installs
MODEL_ENV = "DEEPHASH_MODEL"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "weights.pt"
ONNX_FILE, MASK_FILE, METADATA_FILE = "model.onnx", "mask.npz", "metadata.json"


def default_model_dir() -> Path:
    """``$DEEPHASH_MODEL`` or :data:`DEFAULT_MODEL_DIR`: the model every command, client and server uses unless
    told otherwise."""
    return Path(os.environ.get(MODEL_ENV) or DEFAULT_MODEL_DIR)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: DeepHashNet, folder: Path, metadata: dict | None = None) -> None:
    """Write config, labels and weights; merge ``metadata`` into metadata.json."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(
        json.dumps({"format_version": FORMAT_VERSION, **model.config.to_json()}, indent=2)
    )
    model.config.taxonomy.save(folder / LABELS_FILE)
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    update_metadata(folder, metadata or {})


def load_config(folder: Path) -> ModelConfig:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelError(
            f"no model at {folder} ({CONFIG_FILE} missing); build one with `deephash build-default` or `deephash train`"
        )
    data = json.loads(path.read_text())
    version = data.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ModelError(f"{path}: format version {version}, this deephash reads {FORMAT_VERSION}")
    return ModelConfig.from_json(data)


def load_model(folder: Path) -> DeepHashNet:
    """The PyTorch model in eval mode (backbone built without its default weights, then overwritten)."""
    import torch

    from deephash.model.network import DeepHashNet

    config = load_config(folder)
    model = DeepHashNet(config)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{weights} is missing")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def read_metadata(folder: Path) -> dict:
    path = folder / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_metadata(folder: Path, values: dict) -> dict:
    merged = {**read_metadata(folder), **values}
    (folder / METADATA_FILE).write_text(json.dumps(merged, indent=2, sort_keys=True))
    return merged


def model_version(folder: Path) -> str:
    """sha256 of the ONNX export when present, else of the PyTorch weights."""
    onnx_path = folder / ONNX_FILE
    return file_sha256(onnx_path if onnx_path.is_file() else folder / WEIGHTS_FILE)
