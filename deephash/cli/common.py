"""What every verb shares: the default model folder and the error that carries an exit code."""

from __future__ import annotations

import os
from pathlib import Path

from deephash.errors import DeepHashError


class CommandError(DeepHashError):
    """A usage problem found by a verb (bad combination of options, missing input)."""

    exit_code = 2


def default_model_dir() -> Path:
    """``$DEEPHASH_MODEL`` or ``artifacts/default-model`` (what the README's set-up builds)."""
    return Path(os.environ.get("DEEPHASH_MODEL", "artifacts/default-model"))


def add_model_option(parser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model folder (default: $DEEPHASH_MODEL or artifacts/default-model)",
    )


def model_dir(args) -> Path:
    return args.model if args.model is not None else default_model_dir()
