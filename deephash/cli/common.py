"""What every verb shares: the default model folder and the error that carries an exit code."""

from __future__ import annotations

from pathlib import Path

from deephash.errors import DeepHashError
from deephash.model.artifacts import DEFAULT_MODEL_DIR, MODEL_ENV, default_model_dir


class CommandError(DeepHashError):
    """A usage problem found by a verb (bad combination of options, missing input)."""

    exit_code = 2


def add_model_option(parser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model folder (default: ${MODEL_ENV} or {DEFAULT_MODEL_DIR})",
    )


def model_dir(args) -> Path:
    return args.model if args.model is not None else default_model_dir()


def add_bulk_options(parser) -> None:
    """How many videos are decoded at once, and how many go through the model together."""
    parser.add_argument(
        "--workers",
        type=int,
        help="videos decoded in parallel while the model runs (default: one per core)",
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="videos per model call (default 1: larger batches are slower on CPUs)"
    )
