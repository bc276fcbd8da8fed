"""``deephash mask``: build (or tune) a model's category mask."""

from __future__ import annotations

from pathlib import Path

from deephash.cli.common import CommandError, add_model_option, model_dir
from deephash.evaluation import tune_and_save_mask
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, load_model


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "mask",
        help="write the model's category mask (mask.npz)",
        description="For each category keep the top r*L bits of |classifier weight| (paper Eq. 5). "
        "Give --ratio, or --tune with a dataset to choose r by leave-one-out mAP on its val split.",
    )
    add_model_option(parser)
    parser.add_argument("--ratio", type=float, help="keep this share of bits (0 < r <= 1)")
    parser.add_argument("--tune", action="store_true", help="choose r on DATASET/val.csv")
    parser.add_argument("--dataset", type=Path, help="dataset folder for --tune")
    parser.add_argument("--cache", type=Path, help="feature cache folder (default DATASET/../cache)")
    parser.set_defaults(run=run)


def run(args) -> int:
    folder = model_dir(args)
    if args.tune == (args.ratio is not None):
        raise CommandError("give exactly one of --ratio R or --tune --dataset DIR")
    if args.tune:
        if args.dataset is None:
            raise CommandError("--tune needs --dataset")
        mask = tune_and_save_mask(folder, args.dataset, args.cache or args.dataset.parent / "cache")
    else:
        mask = CategoryMask.from_head(load_model(folder).head, args.ratio)
        mask.save(folder / MASK_FILE)
    print(f"mask r={mask.ratio:g} ({mask.l1.shape[0]} L1 and {mask.l2.shape[0]} L2 categories) in {folder / MASK_FILE}")
    return 0
