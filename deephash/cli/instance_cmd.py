"""``deephash train-instance OUT``: the self-supervised instance stage on generated footage."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from deephash.model.backbones import BACKBONES
from deephash.model.config import ModelConfig
from deephash.model.encoder import FrameEncoder
from deephash.training.instance import InstanceOptions, fit_instance_stage
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.video import FrameSpec


def add_parser(subparsers) -> None:
    stream, options = StreamPlan(), InstanceOptions()
    parser = subparsers.add_parser(
        "train-instance",
        help="learn the instance bits from generated footage (no labels)",
        description="Generate VIDEOS procedural videos, each seen as uploaded and through random edits of every "
        "family (re-encodes, crops, borders, picture-in-picture, overlays, ...); fit the classic quantisers and "
        "the learned projection on their backbone descriptors; print each one's recall@1 on held-out generated "
        "videos (beside groups of generated look-alikes: several shots of one scene); write the best of them to "
        "OUT (for `deephash train --instance OUT`). No real footage is used.",
    )
    parser.add_argument("out", type=Path, help="projection file to write (.npz); a .json report goes beside it")
    parser.add_argument("--videos", type=int, default=stream.videos, help="generated videos")
    parser.add_argument("--views", type=int, default=stream.views, help="views per video (the first unedited)")
    parser.add_argument("--held-out", type=int, default=200, help="videos kept out of fitting, for the check")
    parser.add_argument(
        "--look-alike-groups",
        type=int,
        default=LookAlikePlan.groups,
        help="groups of generated videos of one scene, held out beside them for the check (0: none)",
    )
    parser.add_argument("--bits", type=int, default=options.code_bits, help="code length")
    parser.add_argument("--epochs", type=int, default=options.epochs, help="epochs of the learned projection")
    parser.add_argument("--seed", type=int, default=stream.seed, help="seed of the generated stream and training")
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="efficientnet_lite0", help="frame CNN")
    parser.add_argument(
        "--detail-pool",
        type=int,
        default=ModelConfig.detail_pool,
        help="low-pass of the frames before the backbone (see `ModelConfig.detail_pool`; must match the model's)",
    )
    parser.add_argument(
        "--second-scale-pool",
        type=int,
        default=ModelConfig.second_scale_pool,
        help="the backbone's second pass on frames averaged down by this factor (1: none; see "
        "`ModelConfig.second_scale_pool`; must match the model's)",
    )
    parser.add_argument(
        "--motion-weight",
        type=float,
        default=ModelConfig.motion_weight,
        help="weight of the change over the video beside the frames' mean (see `ModelConfig.motion_weight`; must "
        "match the model's)",
    )
    parser.add_argument("--cache", type=Path, help="folder caching the views' descriptors (default: beside OUT)")
    parser.set_defaults(run=run)


def run(args) -> int:
    plan = StreamPlan(videos=args.videos, views=args.views, seed=args.seed)
    cache = (args.cache or args.out.parent) / f"instance_views_{args.videos}x{args.views}_seed{args.seed}.npy"
    encoder = FrameEncoder(args.backbone, detail_pool=args.detail_pool, second_scale_pool=args.second_scale_pool)
    encoder.eval()
    views = video_views(encoder, plan, FrameSpec(), cache, args.motion_weight)
    look_alikes = None
    if args.look_alike_groups > 0:
        alike = LookAlikePlan(groups=args.look_alike_groups, views=args.views, seed=args.seed + 1)
        alike_cache = cache.with_name(f"look_alikes_{cache.name}")
        look_alikes = video_views(encoder, alike, FrameSpec(), alike_cache, args.motion_weight)
    options = InstanceOptions(code_bits=args.bits, epochs=args.epochs, seed=args.seed)
    change_from = encoder.regional_dim if args.motion_weight > 0 else None
    stage = fit_instance_stage(views, options, min(args.held_out, len(views) // 2), change_from, look_alikes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stage.projection.save(args.out)
    report = {"plan": asdict(plan), "options": asdict(options), "held_out_recall": stage.recall}
    report |= {"chosen": stage.chosen, "learned_from": stage.learned_from, "history": stage.history}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    for name, value in stage.recall.items():
        print(f"{name:<14} held-out recall@1 {value:.3f}")
    print(f"wrote {args.out} ({stage.chosen}, the best on held-out generated videos)")
    return 0
