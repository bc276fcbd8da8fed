"""``deephash-client``: hash videos on a remote server from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clients.triton import TritonVideoClient
from deephash.errors import DeepHashError
from deephash.model.config import ModelConfig, Taxonomy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deephash-client", description="Clients of deephash's servers.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    hashing = verbs.add_parser(
        "hash",
        help="hash videos on Triton (frames are sampled here, inference runs there)",
        description="Decode each video locally, send its frames to the deephash_video model on Triton and "
        "print the code and categories.",
    )
    hashing.add_argument("videos", nargs="+", type=Path)
    hashing.add_argument("--url", default="127.0.0.1:8001", help="host:port (gRPC 8001, HTTP 8000 by default)")
    hashing.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    hashing.add_argument(
        "--model-dir",
        type=Path,
        default=Path("artifacts/default-model"),
        help="model folder whose config.json gives frames per video and category names",
    )
    hashing.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    hashing.add_argument("--batch", type=int, default=1, help="videos per request")
    hashing.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    hashing.add_argument("--json", action="store_true", help="one JSON object per line")
    service = argparse.ArgumentParser(add_help=False)
    service.add_argument("--service", default="http://127.0.0.1:3000", help="URL of the deephash service")
    add = verbs.add_parser("add", parents=[service], help="upload a video under an id (idempotent)")
    add.add_argument("video_id")
    add.add_argument("video", type=Path)
    search = verbs.add_parser(
        "search", parents=[service], help="neighbours of an uploaded video (--video) or a stored id (--id)"
    )
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--video", type=Path)
    query.add_argument("--id", dest="video_id")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--radius", type=int)
    search.add_argument("--no-mask", action="store_true")
    search.add_argument("--all-groups", action="store_true")
    search.add_argument("--modality", choices=("video", "audio", "both"), default="video")
    get = verbs.add_parser("get", parents=[service], help="stored code and categories of an id")
    get.add_argument("video_id")
    remove = verbs.add_parser("remove", parents=[service], help="remove an id")
    remove.add_argument("video_id")
    return parser


def _service_call(args) -> object:
    from clients.service import ServiceClient

    client = ServiceClient(args.service)
    if args.verb == "add":
        return client.add(args.video_id, args.video)
    if args.verb == "get":
        return client.get(args.video_id)
    if args.verb == "remove":
        return client.remove(args.video_id)
    options = {"k": args.k, "masked": not args.no_mask, "same_group": not args.all_groups, "modality": args.modality}
    if args.radius is not None:
        options["radius"] = args.radius
    if args.video is not None:
        return client.search(args.video, **options)
    return client.search_id(args.video_id, **options)


def _config(model_dir: Path) -> ModelConfig:
    from deephash.model.artifacts import load_config

    if (model_dir / "config.json").is_file():
        return load_config(model_dir)
    return ModelConfig(taxonomy=Taxonomy.load(model_dir / "labels.json"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb != "hash":
        try:
            print(json.dumps(_service_call(args), indent=2))
        except DeepHashError as error:
            print(f"deephash-client {args.verb}: {error}", file=sys.stderr)
            return error.exit_code
        return 0
    try:
        client = TritonVideoClient(args.url, _config(args.model_dir), args.protocol, timeout_s=args.timeout)
        results = client.hash_videos(args.videos, args.concurrency, args.batch, progress=not args.json)
    except DeepHashError as error:
        print(f"deephash-client {args.verb}: {error}", file=sys.stderr)
        return error.exit_code
    for video, result in zip(args.videos, results):
        if args.json:
            print(json.dumps({"video": str(video), **result.to_json()}))
        else:
            print(f"{video}  {result.code_hex}  {result.l1.name}/{result.l2.name} ({result.l2.probability:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
