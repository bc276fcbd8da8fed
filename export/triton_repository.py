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
from deephash.model.artifacts import DEFAULT_MODEL_DIR, ONNX_FILE, load_config
from deephash.model.config import SERVED_MODEL_NAME
from export.tensorrt import PLAN_FILE
from export.triton_config import TritonModelConfig

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPOSITORY = REPOSITORY_ROOT / "model_repository"  # the committed CPU flavour
ARTEFACT = {"onnxruntime": ONNX_FILE, "tensorrt": PLAN_FILE}  # file of the model folder each GPU flavour serves
TARGET_FILE = {"onnxruntime": "model.onnx", "tensorrt": "model.plan"}  # the names Triton's platforms look for


def render_repository(model_dir: Path, out: Path, settings: TritonModelConfig) -> Path:
    """Write ``out/deephash_video/config.pbtxt`` (and the model files the flavour needs)."""
    config = load_config(model_dir)
    folder = out / SERVED_MODEL_NAME
    (folder / "1").mkdir(parents=True, exist_ok=True)
    if settings.target == "python":
        source = DEFAULT_REPOSITORY / SERVED_MODEL_NAME / "1" / "model.py"
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
        overrides.setdefault("parameters", {"model_dir": str(DEFAULT_MODEL_DIR)})
    else:
        overrides.setdefault("kind", "KIND_GPU")
    return TritonModelConfig(target=target, **overrides)
