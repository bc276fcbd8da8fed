"""``deephash-client``: hash videos on a remote server from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clients.triton import TritonVideoClient
from deephash.errors import DeepHashError
from deephash.model.artifacts import CONFIG_FILE, DEFAULT_MODEL_DIR, MODEL_ENV, default_model_dir, load_config
from deephash.model.config import LABELS_FILE, ModelConfig, Taxonomy
from deephash.search_options import add_search_arguments, search_options_from_args


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
        default=None,
        help=f"model folder whose {CONFIG_FILE} gives frames per video and category names "
        f"(default: ${MODEL_ENV} or {DEFAULT_MODEL_DIR})",
    )
    hashing.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    hashing.add_argument("--batch", type=int, default=1, help="videos per request")
    hashing.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    hashing.add_argument("--json", action="store_true", help="one JSON object per line")
    service = argparse.ArgumentParser(add_help=False)
    service.add_argument("--service", default="http://127.0.0.1:3000", help="URL of the deephash service")
    service.add_argument("--token", help="bearer token (default: $DEEPHASH_TOKEN)")
    add = verbs.add_parser("add", parents=[service], help="upload a video under an id (idempotent)")
    add.add_argument("video_id")
    add.add_argument("video", type=Path)
    search = verbs.add_parser(
        "search", parents=[service], help="neighbours of an uploaded video (--video) or a stored id (--id)"
    )
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--video", type=Path)
    query.add_argument("--id", dest="video_id")
    add_search_arguments(search)
    get = verbs.add_parser("get", parents=[service], help="stored code and categories of an id")
    get.add_argument("video_id")
    remove = verbs.add_parser("remove", parents=[service], help="remove an id")
    remove.add_argument("video_id")
    return parser


def _service_call(args) -> object:
    from clients.service import ServiceClient

    client = ServiceClient(args.service, token=args.token)
    if args.verb == "add":
        return client.add(args.video_id, args.video)
    if args.verb == "get":
        return client.get(args.video_id)
    if args.verb == "remove":
        return client.remove(args.video_id)
    options = search_options_from_args(args)
    if args.video is not None:
        return client.search(args.video, options)
    return client.search_id(args.video_id, options)


def _config(model_dir: Path | None) -> ModelConfig:
    """The model's shape from its folder; a folder with only the category names gives the default shape."""
    model_dir = model_dir or default_model_dir()
    if (model_dir / CONFIG_FILE).is_file():
        return load_config(model_dir)
    return ModelConfig(taxonomy=Taxonomy.load(model_dir / LABELS_FILE))


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
