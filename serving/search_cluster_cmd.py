"""``deephash search-cluster LAYOUT``: deploy a layout's shard holders and router on Ray Serve."""

from __future__ import annotations

from pathlib import Path

from deephash.cli.common import CommandError
from deephash.index.layout import Layout

DEFAULT_APP = "deephash-search"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "search-cluster",
        help="deploy a layout's shard holders and router on a Ray cluster (Ray Serve)",
        description="Deploy (or update) the Serve application APP: one deployment per holder of LAYOUT (made by "
        "`deephash index layout`), with its replicas, and the router that merges their answers. The holders "
        "memory-map the layout's library read-only and follow its writer; point the service at it with "
        "DEEPHASH_SEARCH_BACKEND=ray. The application stays up after this command returns.",
    )
    parser.add_argument("layout", type=Path)
    parser.add_argument("--address", default="auto", help="Ray cluster address (default: the running one)")
    parser.add_argument("--app", default=DEFAULT_APP, help=f"Serve application name (default {DEFAULT_APP})")
    parser.set_defaults(run=run)


def run(args) -> int:
    import ray

    from serving.ray_search import deploy_search

    layout = Layout.load(args.layout)
    try:
        ray.init(address=args.address, include_dashboard=False)
    except ConnectionError as error:
        hint = "start one with `ray start --head`"
        raise CommandError(f"no Ray cluster at {args.address!r} ({error}); {hint}") from error
    deploy_search(layout, args.app)
    replicas = sum(spec.replicas for spec in layout.holders)
    print(f"{args.app}: {len(layout.holders)} holders, {replicas} replicas over {layout.library}; ready")
    return 0
