"""Entry point: ``deephash VERB ...``. Errors become one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import sys

from deephash.cli import (
    autolabel_cmd,
    build_cmd,
    dataset_cmd,
    evaluate_cmd,
    export_cmd,
    hash_cmd,
    index_cmd,
    mask_cmd,
    train_cmd,
    triton_cmd,
)
from deephash.errors import DeepHashError

VERBS = (
    hash_cmd,
    dataset_cmd,
    train_cmd,
    mask_cmd,
    evaluate_cmd,
    export_cmd,
    build_cmd,
    index_cmd,
    autolabel_cmd,
    triton_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deephash",
        description="Binary codes for videos: hash, train, evaluate, and build the default model.",
    )
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        verb.add_parser(subparsers)
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
