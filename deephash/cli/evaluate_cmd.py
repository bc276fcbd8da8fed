"""``deephash evaluate``: mAP / P@N / PR with and without the mask, near-duplicate recall, plots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from deephash.cli.common import CommandError, add_model_option, model_dir
from deephash.distractors import measure_at_scale, scale_table
from deephash.evaluation import evaluate_dataset
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, load_model, update_metadata
from deephash.real_footage import measure_real_footage, real_footage_table, simhash_line
from deephash.video import SAMPLERS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on a dataset's query/database split",
        description="Hamming-ranking mAP@all, precision@N and precision-recall (plain, masked, and the "
        "SimHash baseline), near-duplicate recall@1/@10 per transform; PNG plots with --plots; with "
        "--real-footage, recall per edit family on held-out real footage.",
    )
    parser.add_argument("dataset", type=Path)
    add_model_option(parser)
    parser.add_argument("--plots", type=Path, help="folder for precision_at_n.png and precision_recall.png")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--cache", type=Path, help="feature cache folder (default DATASET/../cache)")
    parser.add_argument(
        "--real-footage",
        action="store_true",
        help="also recall@1 per edit family on real footage no stage trained on (written to DATASET/../real), "
        "beside the float descriptor, the anchors alone and SimHash",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="sample every video's frames this way instead of as the model was trained (exact: the frames on "
        "screen at T evenly spaced times; keyframes: the nearest keyframe to each, much faster to decode), "
        "to measure what a sampler changes",
    )
    parser.add_argument(
        "--distractors",
        type=int,
        metavar="N",
        help="also the duplicate decision among N generated stills (100000 took 15 min on 2 cores the first "
        "time; their codes are cached per model): recall@1 at that scale, and the widest Hamming threshold whose "
        "duplicates are 99 %% precise against the stills on generated footage, with its recall and precision on "
        "real footage",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="with --distractors: store the recommended threshold and its figures in the model's metadata.json",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.record and not args.distractors:
        raise CommandError("--record stores the threshold of --distractors N: give both")
    if args.distractors is not None and args.distractors < 1:
        raise CommandError(f"--distractors must be at least 1, got {args.distractors}")
    folder = model_dir(args)
    model = load_model(folder)
    if args.sampler:
        model.config = replace(model.config, sampler=args.sampler)
    mask = CategoryMask.load(folder / MASK_FILE)
    report = evaluate_dataset(model, mask, args.dataset, args.cache or args.dataset.parent / "cache")
    print(report.table())
    if args.plots:
        for path in report.plot(args.plots):
            print(f"wrote {path}")
    figures = report.to_json()
    if args.real_footage:
        real, draws = measure_real_footage(folder, args.dataset.parent, sampler=args.sampler)
        print(real_footage_table(real))
        print(simhash_line(real, draws))
        figures["real_footage_recall"], figures["simhash_real_recall_by_seed"] = real, draws
    if args.distractors:
        scale = measure_at_scale(folder, args.dataset.parent, args.distractors)
        print(scale_table(scale))
        figures["duplicate_decision"] = scale
        if args.record:
            update_metadata(folder, {"duplicate_decision": scale})
            print(f"recorded the threshold in {folder / 'metadata.json'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0
