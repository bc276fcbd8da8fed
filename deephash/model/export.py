"""Export a model folder's PyTorch weights to ``model.onnx``; the model version becomes its sha256."""

from __future__ import annotations

from pathlib import Path

import torch

from deephash.model.artifacts import ONNX_FILE, file_sha256, load_model, update_metadata
from deephash.model.onnx import export_onnx


def export_model_onnx(folder: Path, example_batch: int = 2) -> str:
    """Write ``folder/model.onnx`` (uint8 frames in, code + categories out) and return the model version."""
    model = load_model(folder)
    config = model.config
    example = torch.zeros(example_batch, config.num_frames, 3, config.frame_size, config.frame_size, dtype=torch.uint8)
    path = export_onnx(model, example, folder / ONNX_FILE, model.output_names())
    version = file_sha256(path)
    update_metadata(folder, {"model_version": version, "onnx_opset": 17, "outputs": model.output_names()})
    return version
