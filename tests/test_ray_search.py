"""Search on Ray Serve (a real local Ray): shard holders and a router give exactly the local scan's answer, and a
holder that is gone is reported, never silently missing."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.index import Library
from serving.ray_search import SearchRouter, ShardHolder, groups_of, propose_layout

ROWS, GROUPS = 60_000, 4


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Codes with few random bits, so that many distances tie and the merge's tie order is put to the test."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("ray-search") / "lib"
    codes = np.zeros((ROWS, 16), dtype=np.uint8)
    codes[:, :3] = rng.integers(0, 256, (ROWS, 3))
    with Library.create(folder, 128, "model", shard_capacity=4096) as created:
        created.add_many([f"v{n}" for n in range(ROWS)], codes, rng.integers(0, GROUPS, ROWS), rng.integers(0, 9, ROWS))
        created.remove("v7")  # a tombstone the holders must skip too
    return folder


@pytest.fixture(scope="module")
def router(library):
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False)
    with Library.open(library) as opened:
        layout = propose_layout(opened.manifest, 3)
        held = [groups_of(opened.manifest, shards) for shards in layout]
    share = {"num_cpus": 0.25}  # four replicas and Serve's own actors on a 2-CPU cluster
    holders = [
        ShardHolder.options(name=f"holder-{n}", ray_actor_options=share).bind(str(library), shards)
        for n, shards in enumerate(layout)
    ]
    router = SearchRouter.options(ray_actor_options=share).bind(holders, held)
    handle = serve.run(router, name="search", route_prefix=None)
    yield handle
    serve.shutdown()
    ray.shutdown()


def test_the_router_answers_exactly_what_one_scan_answers(library, router):
    rng = np.random.default_rng(1)
    count = 400
    queries = np.zeros((count, 16), dtype=np.uint8)
    queries[:, :3] = rng.integers(0, 256, (count, 3))
    masks = np.where(rng.random((count, 16)) < 0.8, 255, 0).astype(np.uint8)
    groups = [int(g) if g < GROUPS else None for g in rng.integers(0, GROUPS + 2, count)]
    exclude = [f"v{n}" if n % 3 == 0 else None for n in rng.integers(0, ROWS, count)]
    with Library.open(library) as local:
        for masked in (None, masks):
            expected = local.search(queries, 10, masks=masked, groups=groups, exclude=exclude)
            answer = router.search.remote(queries, 10, None, masked, groups, exclude).result()
            assert answer["missing_groups"] == []
            got = [[(video_id, distance) for video_id, distance, _, _ in hits] for hits in answer["hits"]]
            assert got == [[(hit.video_id, hit.distance) for hit in hits] for hits in expected]
        radius = local.search(queries[:50], 20, max_distance=6)
        answer = router.search.remote(queries[:50], 20, 6).result()
        assert [[h[0] for h in hits] for hits in answer["hits"]] == [[h.video_id for h in hits] for hits in radius]


def test_a_killed_holder_is_retried_or_reported_never_silently_missing(library, router):
    import ray

    rng = np.random.default_rng(2)
    queries = np.zeros((20, 16), dtype=np.uint8)
    queries[:, :3] = rng.integers(0, 256, (20, 3))
    with Library.open(library) as local:
        expected = [[(hit.video_id, hit.distance) for hit in hits] for hits in local.search(queries, 10)]
    replica = next(
        actor
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if "holder-0" in actor["name"] and "REPLICA" in actor["name"]
    )
    ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]))  # the process dies; Serve replaces it
    outcomes = {"exact": 0, "flagged": 0}
    for _ in range(30):
        answer = router.search.remote(queries, 10).result()
        if answer["missing_groups"]:
            outcomes["flagged"] += 1  # past the deadline: the answer names what it lacks
        else:
            assert [[(h[0], h[1]) for h in hits] for hits in answer["hits"]] == expected
            outcomes["exact"] += 1
    assert outcomes["exact"] > 0, outcomes  # Serve brought the holder back
