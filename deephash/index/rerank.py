"""The second stage of a search: the scan's candidates re-ranked by their verification descriptors.

The scan returns the ``k * oversampling`` nearest rows by (masked) Hamming distance; each query's float
descriptor is compared with the stored descriptors of those rows only (a gather of a few hundred bytes per
candidate, never a pass over the library), and the ``k`` most similar are answered, each hit with both its
distance and its similarity. Order: similarity, then the scan's own order ``(distance, shard, row)``, so parts
of a library re-ranked apart and merged by that key give what one process gives.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from deephash.errors import IncompatibleLibrary
from deephash.index.reading import Hit, PlacedHit, search_storage
from deephash.index.storage import Storage

OVERSAMPLING = 10  # candidates per answer the scan passes on; measured in benchmarks/verification.py


def verified_search(
    storage: Storage, queries, k, max_distance, masks, groups, exclude, threads, verify: np.ndarray, oversampling: int
) -> list[list[Hit]]:
    """``Library.search`` in two stages: the scan's ``k * oversampling`` nearest, the ``k`` most similar of them."""
    found = search_storage(storage, queries, k * oversampling, max_distance, masks, groups, exclude, threads)
    return [
        [placed.hit for placed in best_verified(with_similarities(storage, hits, query), k)]
        for hits, query in zip(found, verify)
    ]


def with_similarities(storage: Storage, placed: list[PlacedHit], query: np.ndarray) -> list[PlacedHit]:
    """``placed`` (hits of one query) each with its stored descriptor's similarity to ``query`` (float ``[V]``)."""
    query = np.asarray(query, dtype=np.float32)
    if query.shape != (storage.manifest.verify_dims,):
        raise IncompatibleLibrary(
            f"a query descriptor of shape {query.shape}; the library keeps {storage.manifest.verify_dims} dimensions"
        )
    out = []
    for hit in placed:
        shard = storage.shard(storage.manifest.shards[hit.shard_index].name)
        similarity = float(shard.verification(np.array([hit.row]))[0] @ query)
        out.append(replace(hit, hit=replace(hit.hit, similarity=similarity)))
    return out


def rerank_hits(library, hits: list[Hit], query: np.ndarray, k: int) -> list[Hit]:
    """Hits in the scan's order (from another process: shard holders) re-ranked by ``library``'s stored
    descriptors; the same answer as :func:`verified_search` on the same candidates (ties keep the scan's order)."""
    stored = library.get_many([hit.video_id for hit in hits])
    query = np.asarray(query, dtype=np.float32)
    similar = [
        (place, replace(hit, similarity=float(stored[hit.video_id].verify @ query)))
        for place, hit in enumerate(hits)
        if hit.video_id in stored  # removed meanwhile
    ]
    return [hit for _, hit in sorted(similar, key=lambda item: (-item[1].similarity, item[0]))[:k]]


def best_verified(placed: list[PlacedHit], k: int) -> list[PlacedHit]:
    """The ``k`` most similar of hits that carry similarities, ties in the scan's order."""
    return sorted(placed, key=lambda h: (-h.hit.similarity, h.distance, h.shard_index, h.row))[:k]
