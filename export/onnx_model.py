"""A model folder's PyTorch weights → ``model.onnx`` (its sha256 becomes the model version), and the parity of
the export with PyTorch on real frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deephash.model.artifacts import ONNX_FILE, file_sha256, load_model, update_metadata
from deephash.model.onnx import OPSET, OnnxRunner, export_onnx
from export.agreement import Agreement, compare_outputs


def export_model_onnx(folder: Path, example_batch: int = 2) -> str:
    """Write ``folder/model.onnx`` (uint8 frames in, code + categories out) and return the model version."""
    model = load_model(folder)
    config = model.config
    example = torch.zeros(example_batch, config.num_frames, 3, config.frame_size, config.frame_size, dtype=torch.uint8)
    path = export_onnx(model, example, folder / ONNX_FILE, model.output_names())
    version = file_sha256(path)
    update_metadata(folder, {"model_version": version, "onnx_opset": OPSET, "outputs": model.output_names()})
    return version


def parity_report(folder: Path, frames: np.ndarray) -> Agreement:
    """ONNX Runtime against PyTorch on the same uint8 frames ``[B, T, 3, S, S]``."""
    model = load_model(folder)
    with torch.no_grad():
        reference = {name: value.numpy() for name, value in zip(model.output_names(), model(torch.from_numpy(frames)))}
    return compare_outputs(reference, OnnxRunner(folder / ONNX_FILE).run(frames))
