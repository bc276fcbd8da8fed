"""A real `bentoml serve` switching library versions under concurrent load: no failed request, and every
answer computed from the one version its header names."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from deephash.catalog import Catalog
from deephash.hasher import EmbeddedHasher
from deephash.offline.versions import DataVersions
from deephash.search_options import SearchOptions
from serving.version_gate import VERSION_HEADER
from tests.conftest import copy_model, make_clip, retrained_copy
from tests.test_service import Service

pytestmark = pytest.mark.slow  # bentoml serve processes

IDS = [f"clip-{index}" for index in range(12)]
OPTIONS = {"k": 5, "same_group": False, "masked": False}


@pytest.fixture(scope="module")
def world(small_model, tmp_path_factory):
    """Two model versions whose libraries hold the same clips (codes of each model), the first active."""
    folder = tmp_path_factory.mktemp("switch")
    models = [copy_model(small_model, folder / "model-a"), retrained_copy(small_model, folder / "model-b")]
    clips = {video_id: make_clip(folder / f"{video_id}.mp4", 8, seed=index) for index, video_id in enumerate(IDS)}
    versions = DataVersions(folder / "data")
    names, expected = [], {}
    for model in models:
        hasher, version_folder = EmbeddedHasher(model), versions.prepare(model)
        catalog = Catalog(model, version_folder)
        for video_id, path in clips.items():
            catalog.add(video_id, catalog_upload(hasher, path))
        expected[hasher.version] = {
            "search_id": {video_id: _search_id(catalog, video_id) for video_id in IDS},
            "hash": hasher.hash_video(clips[IDS[0]]).code_hex,
        }
        catalog.close()
        names.append(version_folder.name)
    versions.activate(names[0])
    assert len({entry["hash"] for entry in expected.values()}) == 2  # the two models' codes differ
    return folder, models, names, clips, expected


def catalog_upload(hasher: EmbeddedHasher, path: Path):
    from deephash.catalog import HashedUpload

    return HashedUpload(hasher.hash_video(path), None, hasher.version)


def _search_id(catalog: Catalog, video_id: str) -> list[tuple[str, float]]:
    """What the service's search_id answers, computed here (the service's own path: stored codes → search)."""
    stored, audio = catalog.stored(video_id)
    found = catalog.search(stored.code, stored.l1, stored.l2, audio, SearchOptions(**OPTIONS), video_id)
    return [(hit.video_id, hit.distance) for hit in found]


def test_switch_under_load_fails_nothing_and_mixes_no_versions(world, tmp_path):
    folder, models, names, clips, expected = world
    service = Service(
        {"DEEPHASH_MODEL": str(models[0]), "DEEPHASH_DATA": str(folder / "data"), "DEEPHASH_AUTH": "open"},
        tmp_path / "service.log",
    )
    answers, stop = [], threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            for turn in range(10_000):
                if stop.is_set():
                    return
                if (worker + turn) % 3:
                    video_id = IDS[turn % len(IDS)]
                    response = client.post("/search_id", json={"video_id": video_id, "options": OPTIONS})
                    answers.append(("search_id", video_id, response))
                else:
                    with clips[IDS[0]].open("rb") as handle:
                        response = client.post("/hash", files={"video": ("a.mp4", handle, "video/mp4")})
                    answers.append(("hash", IDS[0], response))

    try:
        threads = [threading.Thread(target=load, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        switched = httpx.post(f"{service.url}/activate", json={"name": names[1]}, timeout=120)
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join()
        assert switched.status_code == 200, switched.text
        stats = httpx.post(f"{service.url}/stats", json={}, timeout=30).json()
    finally:
        service.stop()

    assert switched.json()["active"] == names[1] and DataVersions(folder / "data").active() == names[1]
    assert stats["video"]["model_version"] == EmbeddedHasher(models[1]).version
    failed = [(kind, response.status_code, response.text[:200]) for kind, _, response in answers if response.is_error]
    assert not failed, failed
    seen = {}
    for kind, video_id, response in answers:
        version = response.headers[VERSION_HEADER.decode()]
        seen[version] = seen.get(version, 0) + 1
        if kind == "hash":
            assert response.json()["code"] == expected[version]["hash"]
            assert response.json()["model_version"] == version
        else:
            got = [(hit["video_id"], hit["distance"]) for hit in response.json()]
            assert got == expected[version]["search_id"][video_id], (video_id, version)
    assert set(seen) == set(expected) and min(seen.values()) > 5, seen  # both versions answered


def test_activation_waits_for_the_adds_made_meanwhile(world, tmp_path):
    """An add to the served version that the new one lacks makes activation refuse (409) until it is there."""
    folder, models, names, clips, _ = world
    data = folder / "data"
    DataVersions(data).activate(names[0], force=True)
    service = Service(
        {"DEEPHASH_MODEL": str(models[0]), "DEEPHASH_DATA": str(data), "DEEPHASH_AUTH": "open"},
        tmp_path / "service.log",
    )
    try:
        extra = make_clip(tmp_path / "late.mp4", 8, seed=99)
        assert service.upload("add", extra, video_id="late").status_code == 200
        refused = httpx.post(f"{service.url}/activate", json={"name": names[1]}, timeout=120)
        assert refused.status_code == 409 and "lacks 1 videos" in refused.text
        hasher = EmbeddedHasher(models[1])
        catalog = Catalog(models[1], DataVersions(data).folder(names[1]))
        catalog.add("late", catalog_upload(hasher, extra))  # the re-hash catching up
        catalog.close()
        assert httpx.post(f"{service.url}/activate", json={"name": names[1]}, timeout=120).status_code == 200
        got = httpx.post(f"{service.url}/get", json={"video_id": "late"}, timeout=30).json()
        assert got["code"] == hasher.hash_video(extra).code_hex
    finally:
        service.stop()
