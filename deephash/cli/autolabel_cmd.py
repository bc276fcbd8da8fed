"""``deephash autolabel``: label the unknown (-1) rows of a split where the model is confident enough."""

from __future__ import annotations

from pathlib import Path

from deephash.autolabel import autolabel
from deephash.cli.common import add_model_option, model_dir
from deephash.model.artifacts import load_model


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "autolabel",
        help="fill unknown labels with confident predictions",
        description="Predict every label dimension of SPLIT; keep a prediction only when its confidence "
        "reaches the threshold that gives --precision on the held-out split, else leave -1. Writes a CSV in "
        "the dataset's format.",
    )
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (e.g. DATASET/train_auto.csv)")
    add_model_option(parser)
    parser.add_argument("--split", default="train", help="split whose -1 labels are filled")
    parser.add_argument("--held-out", default="val", help="labelled split that sets the thresholds")
    parser.add_argument("--precision", type=float, default=0.99, help="target precision of kept labels")
    parser.add_argument("--cache", type=Path, help="feature cache folder (default DATASET/../cache)")
    parser.set_defaults(run=run)


def run(args) -> int:
    report = autolabel(
        load_model(model_dir(args)),
        args.dataset,
        args.cache or args.dataset.parent / "cache",
        split=args.split,
        held_out=args.held_out,
        target_precision=args.precision,
        out=args.out,
    )
    for name, figures in report.items():
        print(
            f"{name:<8} threshold {figures['threshold']:.3f}: filled {figures['filled']}, "
            f"still unknown {figures['still_unknown']}"
        )
    print(f"wrote {args.out}")
    return 0
