"""``deephash train-instance OUT``: the self-supervised instance stage on generated footage."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from deephash.model.backbones import BACKBONES
from deephash.model.config import DescriptorSettings, ModelConfig
from deephash.model.encoder import FrameEncoder
from deephash.training.instance import InstanceOptions, fit_instance_stage
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.video import FrameSpec


def add_parser(subparsers) -> None:
    stream = StreamPlan()
    parser = subparsers.add_parser(
        "train-instance",
        help="learn the instance bits from generated footage (no labels)",
        description="Generate VIDEOS procedural videos, each seen as uploaded and through random edits of every "
        "family (re-encodes, crops, borders, picture-in-picture, overlays, ...); fit the instance projection on "
        "their descriptors (the model's descriptor settings, with --backbone's CNN); print its recall@1 on held-out "
        "generated videos (beside groups of generated look-alikes: several shots of one scene); write it to OUT "
        "(for `deephash train --instance OUT`, which refuses it for a model of other descriptor settings). No real "
        "footage is used.",
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
    parser.add_argument("--bits", type=int, default=InstanceOptions.code_bits, help="code length")
    parser.add_argument("--seed", type=int, default=stream.seed, help="seed of the generated stream and the fit")
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default=ModelConfig.backbone, help="frame CNN")
    parser.add_argument("--cache", type=Path, help="folder caching the views' descriptors (default: beside OUT)")
    parser.set_defaults(run=run)


def run(args) -> int:
    plan = StreamPlan(videos=args.videos, views=args.views, seed=args.seed)
    cache = (args.cache or args.out.parent) / f"instance_views_{args.videos}x{args.views}_seed{args.seed}.npy"
    descriptor = DescriptorSettings.default(args.backbone)
    encoder = FrameEncoder(descriptor).eval()
    spec = FrameSpec(size=descriptor.frame_size)
    views = video_views(encoder, plan, spec, cache, descriptor.motion_weight)
    look_alikes = None
    if args.look_alike_groups > 0:
        alike = LookAlikePlan(groups=args.look_alike_groups, views=args.views, seed=args.seed + 1)
        alike_cache = cache.with_name(f"look_alikes_{cache.name}")
        look_alikes = video_views(encoder, alike, spec, alike_cache, descriptor.motion_weight)
    options = InstanceOptions(code_bits=args.bits, seed=args.seed)
    change_from = encoder.regional_dim if descriptor.motion_weight > 0 else None
    held_out = min(args.held_out, len(views) // 2)
    stage = fit_instance_stage(views, options, held_out, descriptor, change_from, look_alikes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stage.projection.save(args.out)
    report = {"plan": asdict(plan), "options": asdict(options), "descriptor": descriptor.to_json()}
    report |= {"quantiser": stage.name, "held_out_recall": stage.held_out_recall}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    print(f"{stage.name}: held-out recall@1 {stage.held_out_recall:.3f}; wrote {args.out}")
    return 0
