"""INT8 for CPU serving: static QDQ quantisation of the exported model with ONNX Runtime, calibrated on
real frames, and the accuracy/speed comparison against the FP32 model that decides whether to use it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from deephash.mask import CategoryMask
from deephash.metrics import distance_matrix, retrieval_metrics
from deephash.model.onnx import INPUT_NAME, OnnxRunner
from export.agreement import Agreement, compare_outputs

INT8_FILE = "model.int8.onnx"


class _FrameBatches(CalibrationDataReader):
    def __init__(self, frames: np.ndarray, batch: int) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [frames[start : start + batch] for start in range(0, len(frames), batch)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        block = next(self._batches, None)
        return None if block is None else {INPUT_NAME: np.ascontiguousarray(block)}


def quantize_int8(onnx_path: Path, calibration_frames: np.ndarray, out: Path, batch: int = 8) -> Path:
    """Convolutions and matrix products to INT8 (per-channel weights, QDQ format); the categorical tail
    (argmax, gathers, bit packing) stays exact. ``calibration_frames``: uint8 ``[N, T, 3, S, S]``."""
    quantize_static(
        str(onnx_path),
        str(out),
        _FrameBatches(calibration_frames, batch),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["Conv", "MatMul", "Gemm"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return out


@dataclass(frozen=True)
class Int8Report:
    agreement: Agreement  # INT8 against FP32
    fp32_videos_per_s: float
    int8_videos_per_s: float

    @property
    def speedup(self) -> float:
        return self.int8_videos_per_s / self.fp32_videos_per_s

    def table(self) -> str:
        same = self.agreement
        return (
            f"INT8 vs FP32 on {same.videos} videos: bits agree {same.bit_agreement:.4f}, "
            f"L1 {same.l1_agreement:.3f}, L2 {same.l2_agreement:.3f}; "
            f"{self.fp32_videos_per_s:.1f} -> {self.int8_videos_per_s:.1f} videos/s ({self.speedup:.2f}x)"
        )

    def to_json(self) -> dict:
        return {
            **self.agreement.to_json(),
            "fp32_videos_per_s": self.fp32_videos_per_s,
            "int8_videos_per_s": self.int8_videos_per_s,
            "speedup": self.speedup,
        }


def compare_int8(fp32_path: Path, int8_path: Path, frames: np.ndarray, batch: int = 8) -> tuple[Int8Report, dict]:
    """Outputs of both models on the same frames, and inference speed (decoding excluded)."""
    outputs, speed = {}, {}
    for name, path in (("fp32", fp32_path), ("int8", int8_path)):
        runner = OnnxRunner(path)
        runner.run(frames[:batch])  # warm-up
        started = time.perf_counter()
        parts = [runner.run(frames[start : start + batch]) for start in range(0, len(frames), batch)]
        speed[name] = len(frames) / (time.perf_counter() - started)
        outputs[name] = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    report = Int8Report(compare_outputs(outputs["fp32"], outputs["int8"]), speed["fp32"], speed["int8"])
    return report, outputs


def retrieval_map(
    outputs: dict[str, dict[str, np.ndarray]], mask: CategoryMask, query_labels: np.ndarray, database_labels: np.ndarray
) -> dict[str, float]:
    """mAP of each model's own codes (``outputs`` by precision, query videos first, then the database), plain
    and masked: what quantisation costs in retrieval, beside what it costs in bits."""
    count, figures = len(query_labels), {}
    for precision, out in outputs.items():
        codes = out["code"]
        masks = mask.for_queries(out["l1_id"][:count], out["l2_id"][:count])
        for name, query_masks in (("hamming", None), ("masked", masks)):
            distances = distance_matrix(codes[:count], codes[count:], query_masks)
            metrics = retrieval_metrics(distances, query_labels, database_labels, mask.code_bits)
            figures[f"{precision}_{name}"] = metrics.mean_average_precision
    return figures
