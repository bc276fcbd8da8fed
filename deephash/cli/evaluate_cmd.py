"""``deephash evaluate``: mAP / P@N / PR with and without the mask, near-duplicate recall, plots."""

from __future__ import annotations

import json
from pathlib import Path

from deephash.cli.common import add_model_option, model_dir
from deephash.evaluation import evaluate_dataset
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, load_model


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on a dataset's query/database split",
        description="Hamming-ranking mAP@all, precision@N and precision-recall (plain, masked, and the "
        "SimHash baseline), near-duplicate recall@1/@10 per transform; PNG plots with --plots.",
    )
    parser.add_argument("dataset", type=Path)
    add_model_option(parser)
    parser.add_argument("--plots", type=Path, help="folder for precision_at_n.png and precision_recall.png")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--cache", type=Path, help="feature cache folder (default DATASET/../cache)")
    parser.set_defaults(run=run)


def run(args) -> int:
    folder = model_dir(args)
    model = load_model(folder)
    mask = CategoryMask.load(folder / MASK_FILE)
    report = evaluate_dataset(model, mask, args.dataset, args.cache or args.dataset.parent / "cache")
    print(report.table())
    if args.plots:
        for path in report.plot(args.plots):
            print(f"wrote {path}")
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2))
    return 0
