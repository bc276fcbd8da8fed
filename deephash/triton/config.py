"""``config.pbtxt`` generated from a small public dataclass — nobody edits pbtxt by hand.

The cascade is served as model ``deephash_video``: input ``frames`` (uint8 ``[T, 3, S, S]`` per video;
the batch axis is Triton's), outputs ``code`` (uint8 ``[L/8]``), ``l1_id``/``l2_id`` (int64), ``l1_prob``/
``l2_prob`` (fp32) and ``<extra>_id``/``<extra>_prob`` per extra label dimension — the ONNX export's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deephash.model.config import ModelConfig

MODEL_NAME = "deephash_video"
BACKENDS = {
    "python": 'backend: "python"',
    "onnxruntime": 'platform: "onnxruntime_onnx"',
    "tensorrt": 'platform: "tensorrt_plan"',
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

    def to_pbtxt(self, model: ModelConfig, name: str = MODEL_NAME) -> str:
        frame = f"[ {model.num_frames}, 3, {model.frame_size}, {model.frame_size} ]"
        outputs = [("code", "TYPE_UINT8", f"[ {model.code_bits // 8} ]")] + [
            (name, "TYPE_INT64" if name.endswith("_id") else "TYPE_FP32", "[ 1 ]") for name in model.output_names[1:]
        ]
        lines = [
            f'name: "{name}"',
            BACKENDS[self.target],
            f"max_batch_size: {self.max_batch_size}",
            f'input [ {{ name: "frames" data_type: TYPE_UINT8 dims: {frame} }} ]',
            "output [",
            ",\n".join(
                f'  {{ name: "{output}" data_type: {dtype} dims: {dims}'
                + (" reshape: { shape: [ ] }" if dims == "[ 1 ]" else "")
                + " }"
                for output, dtype, dims in outputs
            ),
            "]",
        ]
        if self.dynamic_batching:
            lines += [
                "dynamic_batching {",
                f"  preferred_batch_size: [ {', '.join(map(str, self.preferred_batch_sizes))} ]",
                f"  max_queue_delay_microseconds: {self.max_queue_delay_us}",
                "}",
            ]
        lines.append(f"instance_group [ {{ count: {self.instances} kind: {self.kind} }} ]")
        for key, value in sorted(self.parameters.items()):
            lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
        return "\n".join(lines) + "\n"
