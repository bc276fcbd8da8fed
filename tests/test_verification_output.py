"""The verification descriptor as a model output: the same from PyTorch and ONNX Runtime (and so Triton's ONNX
flavours), unit length, the embedding's int8 planes within their rounding, in Triton's model config."""

from __future__ import annotations

import numpy as np
import torch

from deephash.hasher import EmbeddedHasher
from deephash.model.artifacts import load_model, save_model
from deephash.model.config import ModelConfig
from deephash.model.network import DeepHashNet
from deephash.model.pooling import video_descriptor_array
from deephash.verification import Embedding, normalise
from export.onnx_model import export_model_onnx, parity_report
from export.triton_config import TritonModelConfig
from tests.test_network import UNEVEN

DIMS = 16


def model_with_verification(folder):
    torch.manual_seed(0)
    config = ModelConfig(taxonomy=UNEVEN, frame_size=64, verify_dims=DIMS)
    model = DeepHashNet(config).eval()
    size = model.verification.centre.shape[0]
    rng = np.random.default_rng(0)
    embedding = Embedding(rng.normal(0, 0.01, size).astype(np.float32), rng.standard_normal((size, DIMS)), None)
    model.verification.set_embedding(embedding)
    save_model(model, folder)
    export_model_onnx(folder)
    return model, embedding


def test_every_backend_gives_the_same_unit_descriptor_and_it_is_the_embedding(tmp_path, clips):
    model, embedding = model_with_verification(tmp_path)
    hasher = EmbeddedHasher(tmp_path)
    hashed = hasher.hash_video(clips["bikes"])
    assert hashed.verification.shape == (DIMS,) and np.isclose(np.linalg.norm(hashed.verification), 1, atol=1e-5)
    frames = hasher.sample(clips["bikes"]).frames[None]
    with torch.no_grad():
        features = model.encoder(torch.from_numpy(frames)).numpy()
        torch_descriptor = model(torch.from_numpy(frames))[-1].numpy()[0]
    assert np.allclose(hashed.verification, torch_descriptor, atol=1e-4)
    descriptor = video_descriptor_array(features[..., model.encoder.feature_dim :], model.config.motion_weight)
    exact = embedding.embed(descriptor)[0]  # the float planes the int8 ones round
    assert float(exact @ hashed.verification) > 0.999
    report = parity_report(tmp_path, np.concatenate([frames, frames[:, ::-1].copy()]))
    assert report.passes() and report.min_verification_cosine > 0.9999
    reloaded = load_model(tmp_path).verification.embedding()
    assert np.allclose(normalise(reloaded.planes.T), normalise(np.asarray(embedding.planes, np.float32).T), atol=0.02)


def test_triton_declares_the_descriptor_output(tmp_path):
    model, _ = model_with_verification(tmp_path)
    proto = TritonModelConfig("python").to_proto(model.config)
    outputs = {output.name: output for output in proto.output}
    assert list(outputs["verification"].dims) == [DIMS] and outputs["verification"].data_type == 11  # TYPE_FP32
    assert "verification" not in {
        output.name for output in TritonModelConfig("python").to_proto(ModelConfig(taxonomy=UNEVEN)).output
    }


def test_generated_stills_get_unit_descriptors_cached_per_model(tmp_path):
    from deephash.distractors import distractor_embeddings

    model, _ = model_with_verification(tmp_path / "model")
    first = distractor_embeddings(model, 6, tmp_path / "cache", chunk=4)
    assert first.shape == (6, DIMS) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.array_equal(distractor_embeddings(model, 6, tmp_path / "cache"), first)  # from the cache
    assert len({row.tobytes() for row in first}) == 6  # six different stills
