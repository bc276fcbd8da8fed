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
    return parser


def _config(model_dir: Path) -> ModelConfig:
    from deephash.model.artifacts import load_config

    if (model_dir / "config.json").is_file():
        return load_config(model_dir)
    return ModelConfig(taxonomy=Taxonomy.load(model_dir / "labels.json"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
