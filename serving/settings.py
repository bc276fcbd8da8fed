"""The service's configuration, read once from the environment (names and defaults in the README).

``DEEPHASH_MODEL`` model folder (``artifacts/default-model``); ``DEEPHASH_DATA`` libraries (``data/service``);
``DEEPHASH_TRITON_URL`` gRPC ``host:port`` of a Triton serving the model (unset: in-process ONNX Runtime);
``DEEPHASH_MAX_UPLOAD_MB`` upload limit (200); ``DEEPHASH_MAX_BATCH`` largest adaptive batch of the
embedded model (16); ``DEEPHASH_BATCH_LATENCY_MS`` the latency the batcher plans for before it sheds load
with 503 (30000: on CPUs a full batch takes seconds, and shedding early only turns waits into errors).
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_DIR = Path(os.environ.get("DEEPHASH_MODEL", "artifacts/default-model"))
DATA_DIR = Path(os.environ.get("DEEPHASH_DATA", "data/service"))
TRITON_URL = os.environ.get("DEEPHASH_TRITON_URL") or None
MAX_UPLOAD_BYTES = int(float(os.environ.get("DEEPHASH_MAX_UPLOAD_MB", "200")) * 1024 * 1024)
MAX_BATCH = int(os.environ.get("DEEPHASH_MAX_BATCH", "16"))
BATCH_LATENCY_MS = int(os.environ.get("DEEPHASH_BATCH_LATENCY_MS", "30000"))
TRITON_TIMEOUT_S = 30.0
