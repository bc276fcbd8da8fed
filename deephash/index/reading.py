"""The read path of a library: exact masked top-k over a snapshot's shards, the hits it names, and what reads
return."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from deephash.errors import IncompatibleLibrary
from deephash.index.idmap import RowLocation
from deephash.index.scan import masked_topk
from deephash.index.shard import Shard
from deephash.index.storage import Storage


@dataclass(frozen=True)
class Hit:
    video_id: str
    distance: int
    l1: int
    l2: int
    similarity: float | None = None  # of the verification descriptors, where the search re-ranked by them


@dataclass(frozen=True)
class StoredCode:
    video_id: str
    code: np.ndarray
    l1: int
    l2: int
    verify: np.ndarray | None = None  # the verification descriptor (float), in a library that keeps them


@dataclass(frozen=True)
class ShardRows:
    """The acknowledged rows of one shard in a snapshot (read-only views of the memory map; ``shard`` names them)."""

    name: str
    group: int
    codes: np.ndarray
    deleted: np.ndarray
    shard: Shard = field(repr=False)


@dataclass(frozen=True)
class PlacedHit:
    """A hit with its place in the scan order ``(distance, shard index, row)``: hits of disjoint sets of shards,
    merged by that key, are exactly what one scan of all of them returns (ties included)."""

    distance: int
    shard_index: int
    row: int
    hit: Hit


def search_storage(
    storage: Storage,
    queries: np.ndarray,
    k: int,
    max_distance: int | None,
    masks: np.ndarray | None,
    groups: Sequence[int | None] | None,
    exclude: Sequence[str | None] | None,
    threads: int | None,
    shards: Collection[str] | None = None,
) -> list[list[PlacedHit]]:
    """``Library.search`` over ``storage``'s snapshot, each hit with its place; ``shards``: only these."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.uint8))
    if queries.shape[1] != storage.manifest.code_bytes:
        bits = storage.manifest.code_bits
        raise IncompatibleLibrary(f"query codes have {queries.shape[1] * 8} bits, library {bits}")
    count = len(queries)
    masks = None if masks is None else np.broadcast_to(np.atleast_2d(masks), queries.shape)
    groups = list(groups) if groups is not None else [None] * count
    exclude = list(exclude or [None] * count)
    located = storage.locate_many([video for video in exclude if video is not None], shards)  # one lookup for all
    excluded: list[RowLocation | None] = [located.get(video) if video is not None else None for video in exclude]
    found: list[list[tuple[int, int, int]]] = [[] for _ in range(count)]  # (distance, shard index, row)
    for index, entry in enumerate(storage.manifest.shards):
        wanted = [q for q in range(count) if groups[q] is None or groups[q] == entry.group]
        if not wanted or entry.rows == 0 or (shards is not None and entry.name not in shards):
            continue
        shard = storage.shard(entry.name)
        exclude_rows = np.array(
            [excluded[q].row if excluded[q] and excluded[q].shard == entry.name else -1 for q in wanted]
        )
        rows, distances = masked_topk(
            shard.codes[: entry.rows],
            storage.deleted(entry),
            queries[wanted],
            None if masks is None else masks[wanted],
            k,
            max_distance,
            exclude_rows,
            threads,
        )
        for position, q in enumerate(wanted):
            found[q] += [(int(d), index, int(r)) for r, d in zip(rows[position], distances[position]) if r >= 0]
    return [_hits(storage, sorted(hits)[:k]) for hits in found]


def _hits(storage: Storage, found: list[tuple[int, int, int]]) -> list[PlacedHit]:
    placed = []
    for distance, index, row in found:
        entry = storage.manifest.shards[index]
        shard = storage.shard(entry.name)
        placed.append(
            PlacedHit(distance, index, row, Hit(shard.video_id(row), distance, entry.group, int(shard.l2[row])))
        )
    return placed
