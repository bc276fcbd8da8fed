"""``deephash build-default``: the default model, built offline from nothing; with ``--full``, released."""

from __future__ import annotations

from pathlib import Path

from deephash.model.artifacts import DEFAULT_MODEL_DIR, ONNX_FILE
from deephash.training.instance_data import StreamPlan
from export.release import DEFAULT_DATA_DIR, build_default_model
from export.release_check import record_check
from export.release_files import RELEASE_DIR, SIZE_LIMIT, write_release


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-default",
        help="make the synthetic dataset, train, mask, export and evaluate the default model",
        description="Everything the default model needs, offline: synthetic dataset and a stream of generated "
        "videos -> instance stage -> 128-bit cascade -> mask tuned on val -> ONNX -> evaluation, and recall per "
        "edit family on real footage that no stage trained on, beside the float descriptor and SimHash. Figures "
        "go to the model's metadata.json. "
        f"With --full the model then becomes the release in {RELEASE_DIR} (replacing the one there) that the "
        "README's set-up installs with `deephash install-default`.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="model folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="datasets and caches")
    parser.add_argument(
        "--stream-videos", type=int, default=StreamPlan().videos, help="generated videos for the instance stage"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of both training stages (the release is seed 0); build other seeds into another --out to see "
        "the recipe's spread, on the same --data (datasets and caches are shared)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"write the built model as the release (weights, config, labels, mask, figures, SHA256SUMS; at most "
        f"{SIZE_LIMIT // 2**20} MiB)",
    )
    parser.add_argument("--release", type=Path, default=RELEASE_DIR, help="release folder written by --full")
    parser.add_argument("--skip-if-present", action="store_true", help="do nothing when OUT/model.onnx exists")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.skip_if_present and (args.out / ONNX_FILE).is_file():
        print(f"{args.out} already holds a model; nothing to do")
        return 0
    stream = StreamPlan(videos=args.stream_videos)
    summary = build_default_model(args.out, args.data, stream=stream, seed=args.seed)
    print(f"default model in {args.out} ({summary['seconds']:.0f} s)")
    if args.full:
        record_check(args.out, args.data)
        size = write_release(args.out, args.release)
        print(f"released in {args.release} ({size / 2**20:.1f} MiB): commit it, then `deephash install-default`")
    return 0
