"""Export a model folder's PyTorch weights to ``model.onnx`` (the model version becomes its sha256), and
check the export against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deephash.codes import unpack_bits
from deephash.model.artifacts import ONNX_FILE, file_sha256, load_model, update_metadata
from deephash.model.onnx import OnnxRunner, export_onnx


def export_model_onnx(folder: Path, example_batch: int = 2) -> str:
    """Write ``folder/model.onnx`` (uint8 frames in, code + categories out) and return the model version."""
    model = load_model(folder)
    config = model.config
    example = torch.zeros(example_batch, config.num_frames, 3, config.frame_size, config.frame_size, dtype=torch.uint8)
    path = export_onnx(model, example, folder / ONNX_FILE, model.output_names())
    version = file_sha256(path)
    update_metadata(folder, {"model_version": version, "onnx_opset": 17, "outputs": model.output_names()})
    return version


def parity_report(folder: Path, frames: np.ndarray) -> dict[str, float]:
    """ONNX Runtime against PyTorch on the same uint8 frames: bit and category agreement, probability gap."""
    model = load_model(folder)
    with torch.no_grad():
        reference = {name: value.numpy() for name, value in zip(model.output_names(), model(torch.from_numpy(frames)))}
    exported = OnnxRunner(folder / ONNX_FILE).run(frames)
    return {
        "videos": len(frames),
        "bit_agreement": float((unpack_bits(exported["code"]) == unpack_bits(reference["code"])).mean()),
        "l1_identical": float((exported["l1_id"] == reference["l1_id"]).mean()),
        "l2_identical": float((exported["l2_id"] == reference["l2_id"]).mean()),
        "max_probability_difference": float(
            max(np.abs(exported[name] - reference[name]).max() for name in ("l1_prob", "l2_prob"))
        ),
    }
