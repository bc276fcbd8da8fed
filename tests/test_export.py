"""Export artefacts: ONNX parity on real clips, INT8 quantisation, TensorRT (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.cli.main import main
from deephash.errors import ModelError
from deephash.model.artifacts import read_metadata
from export.int8 import compare_int8, quantize_int8
from export.tensorrt import BatchProfile, build_engine, cuda_unavailable_reason


def test_cli_parity_on_sample_clips(default_model, capsys):
    assert main(["export", "parity", "--model", str(default_model)]) == 0
    report = read_metadata(default_model)["onnx_parity"]
    assert report["bit_agreement"] >= 0.999 and report["l2_agreement"] == 1.0
    assert report["max_probability_difference"] < 1e-3


def test_int8_model_keeps_the_schema_and_most_bits(tmp_path):
    import torch

    from deephash.model.config import ModelConfig
    from deephash.model.network import DeepHashNet
    from deephash.model.onnx import export_onnx
    from tests.test_network import UNEVEN

    torch.manual_seed(0)
    model = DeepHashNet(ModelConfig(taxonomy=UNEVEN, backbone="efficientnet_lite0", frame_size=64)).eval()
    fp32 = export_onnx(
        model, torch.zeros(2, 5, 3, 64, 64, dtype=torch.uint8), tmp_path / "m.onnx", model.output_names()
    )
    frames = np.random.default_rng(0).integers(0, 256, (16, 5, 3, 64, 64), dtype=np.uint8)
    int8 = quantize_int8(fp32, frames[:8], tmp_path / "m8.onnx")
    report, outputs = compare_int8(fp32, int8, frames, batch=4)
    assert set(outputs["int8"]) == set(outputs["fp32"])
    assert outputs["int8"]["code"].dtype == np.uint8 and outputs["int8"]["code"].shape == (16, 16)
    assert report.agreement.bit_agreement > 0.75
    assert report.fp32_videos_per_s > 0 and report.int8_videos_per_s > 0


def test_tensorrt_refuses_clearly_without_a_gpu(tmp_path):
    reason = cuda_unavailable_reason()
    if reason is None:
        pytest.skip("a CUDA device is present: see test_tensorrt_engine_matches_onnx_runtime")
    with pytest.raises(ModelError, match="TensorRT"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.plan", (5, 3, 224, 224))
    with pytest.raises(ModelError):
        BatchProfile(4, 2, 8)


@pytest.mark.skipif(cuda_unavailable_reason() is not None, reason=str(cuda_unavailable_reason()))
def test_tensorrt_engine_matches_onnx_runtime(default_model):
    assert main(["export", "tensorrt", "--model", str(default_model), "--max-batch", "8"]) == 0
    report = read_metadata(default_model)["tensorrt"]
    assert report["bit_agreement"] >= 0.99 and report["l1_agreement"] == 1.0
