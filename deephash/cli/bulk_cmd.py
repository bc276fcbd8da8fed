"""``deephash bulk-hash MANIFEST --data DATA``: hash a whole video history on Ray into a new library version,
resumable."""

from __future__ import annotations

from pathlib import Path

from deephash.cli.common import add_model_option, model_dir
from deephash.offline.bulk_job import ERRORS_FILE, BulkOptions, run_bulk_job
from deephash.offline.manifest import read_manifest
from deephash.offline.versions import DataVersions


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bulk-hash",
        help="hash every video of a manifest into the model's library version in DATA, on Ray (resumable)",
        description="Frames are sampled in Ray tasks on CPU workers and the model runs in a pool of Ray actors; "
        "this process commits each batch to the video and audio libraries of the model's version, "
        f"DATA/versions/NAME/, and records bad videos in DATA/versions/NAME/{ERRORS_FILE}. Run the same command "
        "again after a crash or a kill: what is committed or recorded is skipped. The version is not activated: "
        "`deephash index activate DATA NAME` does that. MANIFEST: .txt (one path or URI per line, or id<TAB>uri), "
        ".csv or .parquet (columns id, uri). Without --address a local Ray cluster is started; with it the job "
        "runs on that cluster (every node must read the model folder and the videos).",
    )
    parser.add_argument("manifest", type=Path, help="the videos: .txt, .csv or .parquet")
    parser.add_argument("--data", type=Path, required=True, help="data folder (created; the job resumes in it)")
    add_model_option(parser)
    parser.add_argument("--address", help="a running Ray cluster (ray://host:10001 or host:6379); default: local")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray cluster (default: every core)")
    parser.add_argument("--model-workers", type=int, default=1, help="model actors (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model actor (default 1)")
    parser.add_argument(
        "--gpus-per-worker", type=float, default=0.0, help="GPUs per model actor (> 0: CUDA; needs onnxruntime-gpu)"
    )
    parser.add_argument("--batch", type=int, default=4, help="videos per model call (default 4)")
    parser.add_argument("--commit-every", type=int, default=32, help="videos per durable commit (default 32)")
    parser.add_argument("--no-audio", action="store_true", help="video codes only")
    parser.set_defaults(run=run)


def run(args) -> int:
    entries = read_manifest(args.manifest)
    options = BulkOptions(
        address=args.address,
        num_cpus=args.num_cpus,
        model_workers=args.model_workers,
        threads=args.threads,
        gpus_per_worker=args.gpus_per_worker,
        batch=args.batch,
        commit_every=args.commit_every,
        audio=not args.no_audio,
    )
    folder = DataVersions(args.data).prepare(model_dir(args))
    report = run_bulk_job(entries, folder, model_dir(args), options)
    print(report.summary())
    if report.failed:
        print(f"bad videos and their errors: {folder / ERRORS_FILE}")
    print(f"version {folder.name} in {args.data}; activate it with `deephash index activate {args.data} {folder.name}`")
    return 0
