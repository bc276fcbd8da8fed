"""``deephash make-dataset OUT``: the synthetic labelled dataset of real MP4 files."""

from __future__ import annotations

from pathlib import Path

from deephash.data.make_dataset import VARIANT_FAMILIES, VARIANT_STRENGTH, DatasetPlan, make_dataset


def add_parser(subparsers) -> None:
    defaults = DatasetPlan()
    parser = subparsers.add_parser(
        "make-dataset",
        help="write the synthetic two-level video dataset",
        description="Render procedural videos of 4 L1 groups x 3 L2 classes as MP4 files (PyAV), write "
        "train/val/query/database CSVs and labels.json, and near-duplicate variants of every query video: one "
        f"per edit family ({', '.join(VARIANT_FAMILIES)}), each at strength {VARIANT_STRENGTH} (0 the mildest of "
        "the family's range, 1 the strongest), with the source's sound.",
    )
    parser.add_argument("out", type=Path, help="dataset folder to write")
    parser.add_argument(
        "--train-per-class", type=int, default=defaults.train_per_class, help="training videos per class"
    )
    parser.add_argument("--val-per-class", type=int, default=defaults.val_per_class, help="held-out videos per class")
    parser.add_argument("--query-per-class", type=int, default=defaults.query_per_class, help="query videos per class")
    parser.add_argument(
        "--database-per-class", type=int, default=defaults.database_per_class, help="database videos per class"
    )
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per video")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of every random choice")
    parser.add_argument(
        "--unknown-fraction",
        type=float,
        default=defaults.unknown_fraction,
        help="share of training labels written as -1 (unknown)",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    plan = DatasetPlan(
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        query_per_class=args.query_per_class,
        database_per_class=args.database_per_class,
        frames=args.frames,
        seed=args.seed,
        unknown_fraction=args.unknown_fraction,
    )
    make_dataset(args.out, plan)
    print(f"dataset written to {args.out}")
    return 0
