"""Search that outgrows one process, on Ray Serve: shard holders and a router that merges their answers exactly.

Each holder memory-maps a set of shards of one library (read-only: it reads the same files as any reader). The
router sends a batch of queries to the holders of the shards it must scan (a query's L1 group, or all) and
merges their hits by place in the scan order ``(distance, shard index, row)``: the merge is exactly what one
process scanning the whole library answers, ties included. A holder that fails or misses the deadline is asked
again (Ray Serve routes the retry to another replica); past the deadline the answer says which groups it lacks
instead of returning a silently short list.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from ray import serve

from deephash.index import Library
from deephash.index.manifest import Manifest

RETRY_PAUSE_S = 0.05


def propose_layout(manifest: Manifest, holders: int) -> list[list[str]]:
    """Shards per holder, balanced by rows (the largest shard first to the holder with the fewest rows)."""
    layout: list[list[str]] = [[] for _ in range(holders)]
    rows = [0] * holders
    for entry in sorted(manifest.shards, key=lambda entry: (-entry.rows, entry.name)):
        least = rows.index(min(rows))
        layout[least].append(entry.name)
        rows[least] += entry.rows
    return layout


def groups_of(manifest: Manifest, shards: list[str]) -> list[int]:
    return sorted({entry.group for entry in manifest.shards if entry.name in set(shards)})


@serve.deployment
class ShardHolder:
    def __init__(self, library: str, shards: list[str]) -> None:
        self.library = Library.open(Path(library))
        self.shards = frozenset(shards)

    def search(self, queries: np.ndarray, k: int, options: dict) -> list[list[tuple]]:
        """Each query's best ``k`` hits among this holder's shards, with their places."""
        found = self.library.search_shards(queries, k, self.shards, **options)
        return [
            [(p.distance, p.shard_index, p.row, p.hit.video_id, p.hit.l1, p.hit.l2) for p in hits] for hits in found
        ]


@serve.deployment
class SearchRouter:
    def __init__(self, holders: list, groups: list[list[int]], deadline_s: float = 5.0) -> None:
        """``holders``: the holders' handles; ``groups``: the L1 groups each one holds shards of."""
        self.holders, self.groups, self.deadline_s = holders, [set(held) for held in groups], deadline_s

    async def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: list[int | None] | None = None,
        exclude: list[str | None] | None = None,
    ) -> dict:
        """``{"hits": per query [(video_id, distance, l1, l2)], "missing_groups": [...]}``: the exact top-k, or,
        where holders did not answer within the deadline, the groups whose shards were not scanned."""
        queries = np.atleast_2d(queries)
        groups = list(groups) if groups is not None else [None] * len(queries)
        wanted = {None} if None in groups else set(groups)
        asked = [index for index, held in enumerate(self.groups) if None in wanted or held & wanted]
        options = {"max_distance": max_distance, "masks": masks, "groups": groups, "exclude": exclude}
        deadline = time.monotonic() + self.deadline_s
        answers = await asyncio.gather(*(self._ask(index, queries, k, options, deadline) for index in asked))
        merged: list[list[tuple]] = [[] for _ in queries]
        missing: set[int] = set()
        for index, answer in zip(asked, answers):
            if answer is None:
                missing |= self.groups[index] if None in wanted else self.groups[index] & wanted
                continue
            for query, hits in enumerate(answer):
                merged[query] += hits
        return {
            "hits": [[(hit[3], hit[0], hit[4], hit[5]) for hit in sorted(hits)[:k]] for hits in merged],
            "missing_groups": sorted(missing),
        }

    async def _ask(self, index: int, queries, k: int, options: dict, deadline: float) -> list | None:
        """One holder's answer, asked again after a failure until the deadline; None past it."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                return await asyncio.wait_for(self.holders[index].search.remote(queries, k, options), left)
            except Exception:  # a dead replica, a timeout: ask again while there is time
                await asyncio.sleep(RETRY_PAUSE_S)
        return None
