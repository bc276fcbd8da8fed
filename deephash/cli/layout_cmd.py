"""``deephash index layout LIBRARY``: propose where a library's shards are served from on a Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path

from deephash.index import Library
from deephash.index.layout import propose_layout


def add_actions(actions) -> None:
    layout = actions.add_parser(
        "layout",
        help="propose a balanced layout of shard holders for `deephash search-cluster`",
        description="Balance the library's rows over HOLDERS holders: whole L1 groups where they fit, a group "
        "larger than one holder's share split in parts (its shards dealt round-robin), largest first to the "
        "least loaded holder. One holder also serves groups created later. Edit the file freely: it is "
        "validated when deployed (every group once, parts complete).",
    )
    layout.add_argument("library", type=Path)
    layout.add_argument("--holders", type=int, required=True, help="shard-holder deployments")
    layout.add_argument("--replicas", type=int, default=2, help="replicas of each holder (default 2)")
    layout.add_argument("--deadline", type=float, default=5.0, help="seconds the router retries a holder")
    layout.add_argument("--out", type=Path, help="write the layout here (default: print it)")
    layout.set_defaults(run=run_layout)


def run_layout(args) -> int:
    with Library.open(args.library) as library:
        manifest = library.manifest
    layout = propose_layout(manifest, args.library, args.holders, args.replicas, args.deadline)
    rows = {entry.name: entry.rows for entry in manifest.shards}
    if args.out is None:
        print(layout.model_dump_json(indent=2))
    else:
        layout.save(args.out)
        print(f"wrote {args.out}")
    for spec in layout.holders:
        held = layout.shards_of(spec.name, manifest)
        pieces = ", ".join(f"{p.group}" if p.parts == 1 else f"{p.group} ({p.part + 1}/{p.parts})" for p in spec.pieces)
        extra = " + groups no holder names" if spec.others else ""
        print(
            f"{spec.name}: groups {pieces or '-'}{extra}; {len(held)} shards, "
            f"{sum(rows[name] for name in held):,} rows; replicas: {spec.replicas}",
            file=sys.stderr,
        )
    return 0
