"""Entry point: ``deephash VERB ...``. Errors become one line on stderr and an exit code.

The library's own verbs are listed here. Verbs of the layers above it (``export``, ``build-default`` and
``install-default`` from :mod:`export`, ``triton`` from :mod:`serving`) register through the ``deephash.verbs``
entry points in ``pyproject.toml``, so that this package never imports the layers that depend on it.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from deephash.cli import (
    autolabel_cmd,
    bulk_cmd,
    dataset_cmd,
    evaluate_cmd,
    hash_cmd,
    index_cmd,
    instance_cmd,
    mask_cmd,
    train_cmd,
)
from deephash.errors import DeepHashError

VERBS = (hash_cmd, dataset_cmd, instance_cmd, train_cmd, mask_cmd, evaluate_cmd, index_cmd, autolabel_cmd, bulk_cmd)
VERB_ENTRY_POINTS = "deephash.verbs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deephash",
        description="Binary codes for videos: hash, train, evaluate, export, serve, and build the default model.",
    )
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        verb.add_parser(subparsers)
    for plugin in sorted(entry_points(group=VERB_ENTRY_POINTS), key=lambda point: point.name):
        plugin.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DeepHashError as error:
        print(f"deephash {args.verb}: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
