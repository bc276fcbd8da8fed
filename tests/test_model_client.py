"""The HTTP service's client of the embedded model service: an answer that never arrives, or whose connection
closes under it, is asked for again, and a model service that stays silent is replaced by the same model run in
the process; the codes are the same.

A lost answer cannot be produced on demand with a real BentoML pair, so the model service here is a stand-in
that runs the real ONNX model and withholds the answers it is told to."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import numpy as np
import pytest

from deephash.hasher import output_rows
from deephash.model.artifacts import ONNX_FILE, load_config
from deephash.model.onnx import OnnxRunner
from serving import model_client
from serving.model_client import EmbeddedModelClient


class ModelServiceStandIn:
    """Answers like the embedded model service, except the first ``lost`` calls, which never return, and then
    the first call after them, which fails with ``failure`` if one is given."""

    def __init__(self, model_dir, lost: int = 0, failure: Exception | None = None) -> None:
        self.runner, self.lost, self.failure, self.calls = OnnxRunner(model_dir / ONNX_FILE), lost, failure, 0
        self.to_async = SimpleNamespace(run=self.run)

    async def run(self, frames: np.ndarray) -> list[dict]:
        self.calls += 1
        if self.calls <= self.lost:
            await asyncio.Event().wait()  # the answer was sent and never arrived
        if self.failure is not None and self.calls == self.lost + 1:
            raise self.failure
        return output_rows(self.runner.run(frames))


@pytest.mark.parametrize("lost", [1, model_client.ATTEMPTS])
def test_a_lost_answer_is_asked_for_again_and_gives_the_same_codes(small_model, monkeypatch, lost):
    monkeypatch.setattr(model_client, "CALL_TIMEOUT_S", 0.2)
    config = load_config(small_model)
    frames = np.random.default_rng(0).integers(0, 256, (2, config.num_frames, 3, 64, 64), dtype=np.uint8)
    service = ModelServiceStandIn(small_model, lost)
    hashes = asyncio.run(EmbeddedModelClient(service, small_model, config).hash_frames(frames))
    expected = EmbeddedModelClient(None, small_model, config)._run_here(frames)
    assert service.calls == min(lost + 1, model_client.ATTEMPTS)  # asked again; never more than ATTEMPTS times
    assert [h.code.tobytes() for h in hashes] == [h.code.tobytes() for h in expected]


@pytest.mark.parametrize(
    "failure",
    # what aiohttp raises for a keep-alive connection the model service closed: sending, and reading the answer
    [aiohttp.ServerDisconnectedError(), RuntimeError("Connection closed.")],
    ids=["sending", "reading"],
)
def test_a_connection_closed_under_the_call_is_asked_again(small_model, failure):
    config = load_config(small_model)
    frames = np.random.default_rng(1).integers(0, 256, (1, config.num_frames, 3, 64, 64), dtype=np.uint8)
    service = ModelServiceStandIn(small_model, failure=failure)
    hashes = asyncio.run(EmbeddedModelClient(service, small_model, config).hash_frames(frames))
    expected = EmbeddedModelClient(None, small_model, config)._run_here(frames)
    assert service.calls == 2
    assert [h.code.tobytes() for h in hashes] == [h.code.tobytes() for h in expected]


def test_other_failures_of_the_model_service_are_not_hidden(small_model):
    config = load_config(small_model)
    frames = np.zeros((1, config.num_frames, 3, 64, 64), dtype=np.uint8)
    service = ModelServiceStandIn(small_model, failure=RuntimeError("the model failed"))
    with pytest.raises(RuntimeError, match="the model failed"):
        asyncio.run(EmbeddedModelClient(service, small_model, config).hash_frames(frames))
    assert service.calls == 1
