"""``config.pbtxt`` generated from a small public dataclass through Triton's own protobuf (as pytriton
does) — nobody edits pbtxt by hand, and a field Triton does not know fails here, not in the server.

The cascade is served under :data:`deephash.model.config.SERVED_MODEL_NAME`: input ``frames`` (uint8
``[T, 3, S, S]`` per video; the batch axis is Triton's), outputs ``code`` (uint8 ``[L/8]``), ``l1_id``/``l2_id``
(int64), ``l1_prob``/``l2_prob`` (fp32) and ``<extra>_id``/``<extra>_prob`` per extra label dimension — the
ONNX export's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from deephash.model.batching import BatchingProfile
from deephash.model.config import SERVED_MODEL_NAME, ModelConfig
from deephash.model.onnx import INPUT_NAME

# how each flavour names what runs the model: a backend (python) or a platform (the GPU flavours)
BACKENDS = {
    "python": {"backend": "python"},
    "onnxruntime": {"platform": "onnxruntime_onnx"},
    "tensorrt": {"platform": "tensorrt_plan"},
}


@dataclass(frozen=True)
class TritonModelConfig:
    """What an operator may want to change about how Triton serves the cascade."""

    target: str = "python"  # python (CPU, ONNX Runtime inside) | onnxruntime | tensorrt
    max_batch_size: int = 64
    preferred_batch_sizes: tuple[int, ...] = (8, 16, 32)
    max_queue_delay_us: int = 2000
    dynamic_batching: bool = True  # off: every request runs alone (for measuring what batching buys)
    instances: int = 1
    kind: str = "KIND_CPU"  # KIND_GPU for the GPU flavours
    parameters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in BACKENDS:
            raise ValueError(f"unknown target {self.target!r}; one of {', '.join(BACKENDS)}")

    def with_batching(self, profile: BatchingProfile) -> TritonModelConfig:
        """The dynamic batcher prefers the sizes measured to pay off on this CPU, and is off when none does;
        a request may still carry up to ``max_batch_size`` videos. The profile times ONNX Runtime on a CPU, so
        it says nothing about the GPU flavours."""
        if self.kind != "KIND_CPU":
            raise ValueError(f"a CPU batching profile does not fit a {self.kind} model ({self.target})")
        return replace(self, preferred_batch_sizes=profile.useful_sizes, dynamic_batching=bool(profile.useful_sizes))

    def to_proto(self, model: ModelConfig, name: str = SERVED_MODEL_NAME) -> model_config_pb2.ModelConfig:
        outputs = [{"name": "code", "data_type": "TYPE_UINT8", "dims": [model.code_bits // 8]}]
        for output in model.output_names[1:]:
            if output == "verification":
                outputs.append({"name": output, "data_type": "TYPE_FP32", "dims": [model.verify_dims]})
                continue
            data_type = "TYPE_INT64" if output.endswith("_id") else "TYPE_FP32"  # one value per video: [1] as a scalar
            outputs.append({"name": output, "data_type": data_type, "dims": [1], "reshape": {"shape": []}})
        config: dict = {
            "name": name,
            **BACKENDS[self.target],
            "max_batch_size": self.max_batch_size,
            "input": [
                {
                    "name": INPUT_NAME,
                    "data_type": "TYPE_UINT8",
                    "dims": [model.num_frames, 3, model.frame_size, model.frame_size],
                }
            ],
            "output": outputs,
            "instance_group": [{"count": self.instances, "kind": self.kind}],
            "parameters": {key: {"string_value": value} for key, value in sorted(self.parameters.items())},
        }
        if self.dynamic_batching:
            config["dynamic_batching"] = {"max_queue_delay_microseconds": self.max_queue_delay_us}
            if self.preferred_batch_sizes:
                config["dynamic_batching"]["preferred_batch_size"] = list(self.preferred_batch_sizes)
        return json_format.ParseDict(config, model_config_pb2.ModelConfig())

    def to_pbtxt(self, model: ModelConfig, name: str = SERVED_MODEL_NAME) -> str:
        return text_format.MessageToString(self.to_proto(model, name))
