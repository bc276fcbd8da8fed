"""Search that outgrows one process, on Ray Serve: shard holders and a router that merges their answers exactly.

Each holder memory-maps the shards its layout entry names (:mod:`deephash.index.layout`) of one library,
read-only: it reads the same files as any reader and follows the writer through the manifest, re-reading it
whenever the file changed before it answers. A remove is acknowledged after its manifest is durable, so every
query that starts after the acknowledgement skips the removed row on every holder. The router sends a batch of
queries to the holders of the groups it must scan (a query's L1 group, or all) and merges their hits by place
in the scan order ``(distance, shard index, row)``: exactly what one process scanning the whole library
answers, ties included. Requests that arrive together travel as one batch, which a holder scans in one
pass. A holder that fails or misses the deadline is asked again (Ray Serve routes the retry to another
replica); past the deadline the answer names the groups it lacks instead of returning a silently short list.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ray import serve
from ray.exceptions import RayTaskError

from deephash.errors import DeepHashError, IncompatibleLibrary, InvalidRequest, SearchIncomplete
from deephash.index import Hit, Library
from deephash.index.layout import Layout
from deephash.index.manifest import MANIFEST_FILE, Manifest
from deephash.index.rerank import OVERSAMPLING, rerank_hits

RETRY_PAUSE_S = 0.05
MAX_BATCH_REQUESTS = 64  # concurrent requests the router sends to the holders as one batch
CONCURRENT_BATCHES = 8  # batches in flight at once: one waiting on a slow holder does not hold up the others
MAX_ONGOING_REQUESTS = MAX_BATCH_REQUESTS * CONCURRENT_BATCHES
BATCH_WAIT_S = 0.002  # how long a request waits for others to join its batch
CALL_TIMEOUT_S = 60.0  # a client's wait for the router, which answers (or flags) within its own deadline


@dataclass(frozen=True)
class _Request:
    queries: np.ndarray
    k: int
    max_distance: int | None
    masks: np.ndarray | None
    groups: list[int | None]
    exclude: list[str | None]


@serve.deployment
class ShardHolder:
    def __init__(self, layout: dict, name: str) -> None:
        self.layout, self.name = Layout.model_validate(layout), name
        self.library = Library.open(self.layout.library)
        self._lock = threading.Lock()  # a refresh closes shard maps: never while a scan reads them
        self._seen: tuple[int, int, int] | None = None
        self.shards: frozenset[str] = frozenset()

    def _follow_writer(self) -> None:
        """Move to the newest snapshot when the manifest file changed (it is replaced on every commit)."""
        status = os.stat(self.layout.library / MANIFEST_FILE)
        seen = (status.st_ino, status.st_mtime_ns, status.st_size)
        if seen != self._seen:
            self.library.refresh()
            self.shards = self.layout.shards_of(self.name, self.library.manifest)
            self._seen = seen

    def search(self, queries: np.ndarray, k: int, options: dict) -> dict:
        """Each query's best ``k`` hits among this holder's shards, with their places, and the generation of the
        manifest they come from (the router merges only answers of one generation)."""
        with self._lock:
            self._follow_writer()
            found = self.library.search_shards(queries, k, self.shards, **options)
            generation = self.library.manifest.generation
        hits = [
            [(p.distance, p.shard_index, p.row, p.hit.video_id, p.hit.l1, p.hit.l2) for p in hits] for hits in found
        ]
        return {"generation": generation, "hits": hits}


@serve.deployment(max_ongoing_requests=MAX_ONGOING_REQUESTS)
class SearchRouter:
    def __init__(self, layout: dict, holders: list) -> None:
        """``holders``: the handles of the layout's holders, in its order."""
        self.layout, self.holders = Layout.model_validate(layout), holders
        self.named = [{piece.group for piece in spec.pieces} for spec in self.layout.holders]
        self.others = next(index for index, spec in enumerate(self.layout.holders) if spec.others)
        self.code_bytes = Manifest.load(self.layout.library).code_bytes

    def _holders_for(self, wanted: set[int | None]) -> list[int]:
        if None in wanted:
            return list(range(len(self.holders)))
        asked = {index for index, named in enumerate(self.named) if named & wanted}
        if wanted - set().union(*self.named):
            asked.add(self.others)
        return sorted(asked)

    def _groups_of(self, index: int, wanted: set[int | None]) -> set[int]:
        """What holder ``index`` serves of ``wanted`` (all of it for None), to name when it does not answer."""
        held = set(self.named[index])
        if index == self.others:
            everything = set().union(*self.named)
            held |= {entry.group for entry in Manifest.load(self.layout.library).shards} - everything
            held |= {group for group in wanted if group is not None and group not in everything}
        return held if None in wanted else held & wanted

    async def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: list[int | None] | None = None,
        exclude: list[str | None] | None = None,
    ) -> dict:
        """``{"hits": per query [(video_id, distance, l1, l2)], "missing_groups": [...], "library": folder}``:
        the exact top-k, or, where holders did not answer within the deadline, the groups whose shards were not
        scanned; and the library it comes from (a client checks it is the one it writes)."""
        queries = np.atleast_2d(np.asarray(queries))
        if queries.dtype != np.uint8 or queries.shape[1] != self.code_bytes:
            raise IncompatibleLibrary(f"queries must be uint8 codes of {self.code_bytes} bytes, not {queries.shape}")
        count = len(queries)
        for name, values in (("groups", groups), ("exclude", exclude)):
            if values is not None and len(values) != count:
                raise InvalidRequest(f"{name} needs one entry per query: {len(values)} for {count} queries")
        answer = await self._search_together(
            _Request(
                queries,
                k,
                max_distance,
                None if masks is None else np.broadcast_to(np.atleast_2d(masks), queries.shape),
                list(groups) if groups is not None else [None] * count,
                list(exclude) if exclude is not None else [None] * count,
            )
        )
        return answer | {"library": str(self.layout.library)}

    @serve.batch(
        max_batch_size=MAX_BATCH_REQUESTS, batch_wait_timeout_s=BATCH_WAIT_S, max_concurrent_batches=CONCURRENT_BATCHES
    )
    async def _search_together(self, requests: list[_Request]) -> list[dict]:
        """Requests that arrive together go to the holders as one batch (per ``k`` and radius): a holder reads
        each block of codes once for all their queries while it is in cache."""
        by_limits: dict[tuple, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            by_limits[(request.k, request.max_distance)].append(index)
        batches = [[requests[index] for index in members] for members in by_limits.values()]
        results = await asyncio.gather(*(self._fan_out(batch) for batch in batches))
        answers: list[dict] = [{} for _ in requests]
        for members, batch, (found, failed) in zip(by_limits.values(), batches, results):
            for index, request, hits in zip(members, batch, found):
                wanted = set(request.groups)
                needed = failed.intersection(self._holders_for(wanted))
                lacking = [self._groups_of(holder, wanted) for holder in needed]
                answers[index] = {"hits": hits, "missing_groups": sorted(set().union(*lacking))}
        return answers

    async def _fan_out(self, batch: list[_Request]) -> tuple[list[list[list[tuple]]], set[int]]:
        """Each request's merged hits, and the holders that did not answer within the deadline."""
        k, max_distance = batch[0].k, batch[0].max_distance
        queries = np.concatenate([request.queries for request in batch])
        masks = None
        if any(request.masks is not None for request in batch):  # an all-ones mask measures plain distance
            full = [np.full(r.queries.shape, 255, np.uint8) if r.masks is None else r.masks for r in batch]
            masks = np.concatenate(full)
        groups = [group for request in batch for group in request.groups]
        exclude = [video for request in batch for video in request.exclude]
        asked = self._holders_for(set(groups))
        options = {"max_distance": max_distance, "masks": masks, "groups": groups, "exclude": exclude}
        deadline = time.monotonic() + self.layout.deadline_s
        while True:  # a commit between two holders' reads: ask again, all of them read the newer manifest then
            answers = await asyncio.gather(*(self._ask(index, queries, k, options, deadline) for index in asked))
            generations = [answer["generation"] for answer in answers if answer is not None]
            if len(set(generations)) <= 1 or time.monotonic() >= deadline:
                break
        newest = max(generations, default=None)
        merged: list[list[tuple]] = [[] for _ in queries]
        failed = set()
        for index, answer in zip(asked, answers):
            if answer is None or answer["generation"] != newest:  # an older snapshot cannot be merged exactly
                failed.add(index)
                continue
            for query, hits in enumerate(answer["hits"]):
                merged[query] += hits
        found = [[(hit[3], hit[0], hit[4], hit[5]) for hit in sorted(hits)[:k]] for hits in merged]
        offsets = np.cumsum([0] + [len(request.queries) for request in batch])
        return [found[begin:end] for begin, end in zip(offsets[:-1], offsets[1:])], failed

    async def _ask(self, index: int, queries, k: int, options: dict, deadline: float) -> dict | None:
        """One holder's answer, asked again after a failure until the deadline; None past it. An error raised by
        the holder's own code is not a failure to retry: it goes to the caller."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                return await asyncio.wait_for(self.holders[index].search.remote(queries, k, options), left)
            except RayTaskError:
                raise
            except Exception:  # a dead or unreachable replica, a timeout: ask again while there is time
                await asyncio.sleep(RETRY_PAUSE_S)
        return None


def build_search_app(layout: Layout):
    """The Serve application of ``layout``: one deployment per holder (its replicas), and the router."""
    data = layout.model_dump(mode="json")
    holders = [
        ShardHolder.options(
            name=spec.name,
            num_replicas=spec.replicas,
            ray_actor_options={"num_cpus": layout.replica_cpus},
            max_replicas_per_node=layout.max_replicas_per_node,
        ).bind(data, spec.name)
        for spec in layout.holders
    ]
    return SearchRouter.options(ray_actor_options={"num_cpus": layout.replica_cpus}).bind(data, holders)


def deploy_search(layout: Layout, app: str):
    """Run the application on the connected Ray cluster (replacing an application of that name); its handle."""
    return serve.run(build_search_app(layout), name=app, route_prefix=None)


def app_builder(args: dict):
    """For ``serve run serving.ray_search:app_builder layout=PATH``."""
    return build_search_app(Layout.load(Path(args["layout"])))


class RaySearchClient:
    """``Library.search`` answered by a deployed search application (the service's ``search backend = ray``).

    Writes stay with the library's one writer (the service); the holders follow its manifest. It connects on
    the first search (a cluster that is down at start costs searches, not the service), refuses answers of an
    application that serves another library (:class:`IncompatibleLibrary`), and raises
    :class:`SearchIncomplete` for an answer that lacks groups, so no caller mistakes it for a complete one.
    """

    def __init__(self, app: str, library: Library, address: str) -> None:
        self.app, self.address, self.folder, self.library = app, address, library.folder.resolve(), library
        self._handle = None

    def _connected(self):
        if self._handle is None:
            import ray

            try:
                if not ray.is_initialized():
                    ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
                self._handle = serve.get_app_handle(self.app)
            except Exception as error:  # no cluster, no such application: nothing can be searched
                raise SearchIncomplete(f"the Ray search application {self.app!r} cannot be reached: {error}") from error
        return self._handle

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: list[int | None] | None = None,
        exclude: list[str | None] | None = None,
        verify: np.ndarray | None = None,
        oversampling: int = OVERSAMPLING,
    ) -> list[list[Hit]]:
        """As ``Library.search``; with ``verify``, the holders' exact merge of the ``k * oversampling`` nearest is
        re-ranked here by the library's stored descriptors, so the answer is the one process's."""
        if verify is not None and self.library.verify_dims:
            wide = k * oversampling
            found = self.search(queries, wide, max_distance=max_distance, masks=masks, groups=groups, exclude=exclude)
            return [rerank_hits(self.library, hits, query, k) for hits, query in zip(found, np.atleast_2d(verify))]
        queries = np.atleast_2d(np.asarray(queries, dtype=np.uint8))
        if masks is not None:
            masks = np.broadcast_to(np.atleast_2d(masks), queries.shape).copy()
        call = self._connected().search.remote(queries, k, max_distance, masks, groups, exclude)
        try:
            answer = call.result(timeout_s=CALL_TIMEOUT_S)
        except RayTaskError as error:
            if isinstance(error.cause, DeepHashError):  # the router refused the request itself
                raise error.cause from error
            raise SearchIncomplete(f"the Ray search application {self.app!r} failed: {error}") from error
        except Exception as error:  # the router did not answer
            raise SearchIncomplete(f"the Ray search application {self.app!r} did not answer: {error}") from error
        if Path(answer["library"]) != self.folder:
            raise IncompatibleLibrary(
                f"the Ray search application {self.app!r} serves {answer['library']}, this service's library is "
                f"{self.folder}: deploy `deephash search-cluster` with a layout of that library"
            )
        if answer["missing_groups"]:
            raise SearchIncomplete(f"groups {answer['missing_groups']} were not scanned within the deadline")
        return [[Hit(video_id, distance, l1, l2) for video_id, distance, l1, l2 in hits] for hits in answer["hits"]]
