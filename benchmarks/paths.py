"""Where the benchmarks find the repository's model and data: beside this folder, from wherever they are run."""

from __future__ import annotations

from pathlib import Path

from deephash.model.artifacts import DEFAULT_MODEL_DIR

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / DEFAULT_MODEL_DIR  # what the README's set-up installs
DATA = REPO / "data"
