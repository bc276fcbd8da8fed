"""PyTorch → ONNX export and an ONNX Runtime session wrapper (the embedded inference backend)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

if TYPE_CHECKING:
    import torch

from deephash.errors import ModelError

OPSET = 17
INPUT_NAME = "frames"


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    output_names: list[str],
    input_name: str = INPUT_NAME,
    dynamic_frames: bool = False,
) -> Path:
    """Export with a dynamic batch axis (TorchScript exporter), then run ``onnx.checker`` on the file.

    ``dynamic_frames`` also frees axis 1 (frames per video) of input and outputs, for per-frame encoders.
    """
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 1: "frames"} if dynamic_frames else {0: "batch"}
    dynamic = {input_name: axes, **{name: axes for name in output_names}}
    module = module.eval()
    # the TorchScript exporter is deprecated upstream and says so at length; it is the one that exports
    # this graph without onnxscript, so its warnings are noise here
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        # the regional pooling reads the feature map's size as constants on purpose (pooling.py)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_name],
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    return path


def default_threads() -> int:
    """Threads for ONNX Runtime unless a caller sets them: every core this process may use."""
    return len(os.sched_getaffinity(0))


class OnnxRunner:
    """One ONNX Runtime session, on the CPU or (``device="cuda"``, an onnxruntime-gpu install) an NVIDIA GPU;
    ``run`` maps the single input to the named outputs."""

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu") -> None:
        if not Path(path).is_file():
            raise ModelError(f"ONNX model not found: {path}")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError("ONNX Runtime has no CUDA provider here: install onnxruntime-gpu on a GPU machine")
            providers.insert(0, "CUDAExecutionProvider")
        elif device != "cpu":
            raise ModelError(f"device must be cpu or cuda, not {device!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # threads that wait for work sleep instead of spinning: beside decoding (the service, bulk hashing) a
        # spinning thread takes the core a decoder needs, while alone the model loses little (docs/measurements.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelError(f"ONNX Runtime cannot load {path}: {error}") from error
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.output_names, {self.input_name: batch})
        return dict(zip(self.output_names, values))
