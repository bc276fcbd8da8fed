"""Render a Triton model repository for one of the three flavours.

* ``python`` — CPU, works out of the box: the committed ``model_repository/`` (config + Python-backend
  ``model.py`` running the exported ONNX with ONNX Runtime).
* ``onnxruntime`` / ``tensorrt`` — for the standard Triton container on GPUs: ``platform`` configs with the
  ONNX file or the TensorRT engine copied next to them, ready to copy into an image.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deephash.errors import ModelError
from deephash.model.artifacts import ONNX_FILE, load_config
from deephash.triton.config import MODEL_NAME, TritonModelConfig
from deephash.triton.server import DEFAULT_REPOSITORY

ARTEFACT = {"onnxruntime": ONNX_FILE, "tensorrt": "model.plan"}
TARGET_FILE = {"onnxruntime": "model.onnx", "tensorrt": "model.plan"}


def render_repository(model_dir: Path, out: Path, settings: TritonModelConfig) -> Path:
    """Write ``out/deephash_video/config.pbtxt`` (and the model files the flavour needs)."""
    config = load_config(model_dir)
    folder = out / MODEL_NAME
    (folder / "1").mkdir(parents=True, exist_ok=True)
    if settings.target == "python":
        source = DEFAULT_REPOSITORY / MODEL_NAME / "1" / "model.py"
        if (folder / "1" / "model.py").resolve() != source.resolve():
            shutil.copy(source, folder / "1" / "model.py")
    else:
        artefact = model_dir / ARTEFACT[settings.target]
        if not artefact.is_file():
            hint = "deephash export tensorrt" if settings.target == "tensorrt" else "deephash export onnx"
            raise ModelError(f"{artefact} is missing; make it with `{hint}`")
        shutil.copy(artefact, folder / "1" / TARGET_FILE[settings.target])
    (folder / "config.pbtxt").write_text(settings.to_pbtxt(config))
    return folder


def default_settings(target: str, **overrides) -> TritonModelConfig:
    """The shipped defaults per flavour: the CPU flavour names the model folder, GPU flavours use GPUs."""
    if target == "python":
        overrides.setdefault("parameters", {"model_dir": "artifacts/default-model"})
    else:
        overrides.setdefault("kind", "KIND_GPU")
    return TritonModelConfig(target=target, **overrides)
