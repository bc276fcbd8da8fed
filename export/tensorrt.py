"""TensorRT engine (``model.plan``) from the exported ONNX: FP16 by default, one optimisation profile over
the batch axis, checked against ONNX Runtime on real frames.

Needs an NVIDIA GPU with CUDA and the optional extra (``pip install '.[tensorrt]'``); without either it stops
with a clear :class:`ModelError` instead of failing inside TensorRT.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.errors import ModelError
from deephash.model.onnx import INPUT_NAME, OnnxRunner
from export.agreement import Agreement, compare_outputs

PLAN_FILE = "model.plan"


@dataclass(frozen=True)
class BatchProfile:
    """Videos per request the engine is built for: TensorRT tunes kernels for ``opt``."""

    min: int = 1
    opt: int = 16
    max: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ModelError(f"batch profile needs 1 <= min <= opt <= max, got {self}")


def cuda_unavailable_reason() -> str | None:
    """Why TensorRT cannot run here (None when it can)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT is not installed (pip install '.[tensorrt]')"
    import torch

    if not torch.cuda.is_available():
        return "TensorRT needs an NVIDIA GPU with CUDA, and none is visible to this process"
    return None


def _require_cuda() -> None:
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise ModelError(reason)


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    frame_shape: tuple[int, int, int, int],
    profile: BatchProfile = BatchProfile(),
    fp16: bool = True,
    workspace_bytes: int = 2 << 30,
) -> Path:
    """Parse the ONNX, build and serialise the engine; ``frame_shape`` is ``(T, 3, S, S)``."""
    _require_cuda()
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = builder.create_optimization_profile()
    shapes.set_shape(INPUT_NAME, (profile.min, *frame_shape), (profile.opt, *frame_shape), (profile.max, *frame_shape))
    config.add_optimization_profile(shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError("TensorRT failed to build the engine (see its log above)")
    plan_path.write_bytes(bytes(serialized))
    return plan_path


def run_engine(plan_path: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Run a serialised engine on uint8 frames ``[B, T, 3, S, S]`` (CUDA buffers via torch)."""
    _require_cuda()
    import tensorrt as trt
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(plan_path.read_bytes())
    context = engine.create_execution_context()
    context.set_input_shape(INPUT_NAME, frames.shape)
    inputs = torch.from_numpy(np.ascontiguousarray(frames)).cuda()
    context.set_tensor_address(INPUT_NAME, inputs.data_ptr())
    outputs = {}
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        if engine.get_tensor_mode(name) != trt.TensorIOMode.OUTPUT:
            continue
        dtype = torch.from_numpy(np.zeros(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
        outputs[name] = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device="cuda")
        context.set_tensor_address(name, outputs[name].data_ptr())
    stream = torch.cuda.Stream()
    if not context.execute_async_v3(stream.cuda_stream):
        raise ModelError("TensorRT execution failed")
    stream.synchronize()
    return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}


def verify_engine(plan_path: Path, onnx_path: Path, frames: np.ndarray) -> Agreement:
    """The engine against ONNX Runtime on the same frames."""
    return compare_outputs(OnnxRunner(onnx_path).run(frames), run_engine(plan_path, frames))
