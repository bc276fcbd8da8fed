"""Triton Python-backend model: the exported cascade run by ONNX Runtime on the CPU.

Requests merged by Triton's dynamic batcher are run as one ONNX Runtime call. The ONNX file comes from the
model folder in ``$DEEPHASH_MODEL`` (``deephash triton`` sets it), else from the ``model_dir`` parameter of
config.pbtxt, relative to the repository root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from deephash.model.artifacts import MODEL_ENV, ONNX_FILE
from deephash.model.onnx import OnnxRunner

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        folder = Path(os.environ.get(MODEL_ENV) or REPOSITORY_ROOT / parameters["model_dir"])
        threads = int(parameters.get("threads", "0")) or None
        self.runner = OnnxRunner(folder / ONNX_FILE, threads)
        self.outputs = [output["name"] for output in config["output"]]

    def execute(self, requests: list) -> list:
        frames = [pb_utils.get_input_tensor_by_name(request, "frames").as_numpy() for request in requests]
        results = self.runner.run(np.ascontiguousarray(np.concatenate(frames)))
        responses, start = [], 0
        for block in frames:
            stop = start + len(block)
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(results[name][start:stop])) for name in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses
