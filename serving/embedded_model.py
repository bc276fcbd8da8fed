"""The embedded model backend as a BentoML service of its own, so that its one API is adaptively batched.

The HTTP service decodes uploads concurrently and calls :meth:`EmbeddedModel.run` with one video's frames
each; BentoML's dispatcher merges the calls that arrive together into one ``[B, T, 3, S, S]`` batch for ONNX
Runtime and splits the result rows back to their callers (the role Triton's dynamic batcher plays when
``DEEPHASH_TRITON_URL`` is set), up to the largest batch measured to pay off on this device
(``batching.json``); where none does, calls run one by one. Calls between the two services travel as pickles.
"""

from __future__ import annotations

import bentoml
import numpy as np

from deephash.hasher import output_rows
from deephash.model.artifacts import ONNX_FILE
from deephash.model.onnx import OnnxRunner
from serving.lifecycle import die_with_parent
from serving.settings import ServiceSettings, service_settings

# BentoML fixes an API's batching when the class is defined, so the settings are read when this module is imported
SETTINGS = service_settings()
MAX_BATCH = SETTINGS.embedded_max_batch()  # 1: batching does not pay off on this device, calls run one by one


@bentoml.service(name="deephash_embedded_model", traffic={"timeout": 120})
class EmbeddedModel:
    def __init__(self, settings: ServiceSettings = SETTINGS) -> None:
        die_with_parent()
        self.runner = OnnxRunner(settings.model / ONNX_FILE, settings.onnx_threads)

    @bentoml.api(batchable=MAX_BATCH > 1, max_batch_size=max(MAX_BATCH, 2), max_latency_ms=SETTINGS.batch_latency_ms)
    def run(self, frames: np.ndarray) -> list[dict]:
        """uint8 frames ``[B, T, 3, S, S]`` → the model's outputs, one row per video (see ``output_rows``)."""
        return output_rows(self.runner.run(np.ascontiguousarray(frames, dtype=np.uint8)))
