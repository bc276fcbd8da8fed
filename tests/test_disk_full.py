"""A full disk under a library: the write fails cleanly, nothing acknowledged is lost, the library verifies,
and it takes writes again once space returns (without being reopened). A real small file system (tmpfs) where
the machine allows it."""

from __future__ import annotations

import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from deephash.errors import StorageFailure
from deephash.index import Library


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_fails_the_write_and_loses_nothing(small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\1" * (1 << 20))  # space an operator can free later
    rng = np.random.default_rng(0)
    acknowledged: dict[str, np.ndarray] = {}
    library = Library.create(small_disk / "lib", 128, "model", shard_capacity=4096)
    with pytest.raises(StorageFailure, match="nothing was stored"):
        for batch in range(10_000):
            ids = [f"v{batch}-{index}" for index in range(200)]
            codes = rng.integers(0, 256, (200, 16), dtype=np.uint8)
            library.add_many(ids, codes, rng.integers(0, 4, 200), rng.integers(0, 9, 200))
            acknowledged.update(zip(ids, codes))
    assert len(acknowledged) > 1000
    filler.unlink()  # space returns: the open library takes writes again, without being reopened
    healed = rng.integers(0, 256, 16, dtype=np.uint8)
    assert library.add("healed", healed, 0, 0) == "added" and library.verify() == []
    acknowledged["healed"] = healed
    library.close()
    with Library.open(small_disk / "lib", writable=True) as reopened:
        assert reopened.verify() == [] and len(reopened) == len(acknowledged)
        for video_id in list(acknowledged)[:: max(1, len(acknowledged) // 200)]:
            assert np.array_equal(reopened.get(video_id).code, acknowledged[video_id])
        assert reopened.add("after", acknowledged[next(iter(acknowledged))], 0, 0) == "added"
        assert reopened.verify() == []


def test_a_refused_write_is_answered_507_by_the_service():
    from deephash.errors import LibraryError
    from serving.errors import status_of

    assert status_of(StorageFailure("disk full")) == 507  # the caller may retry once space returns
    assert status_of(LibraryError("other")) == 500


@pytest.mark.slow  # a bentoml serve process
def test_the_service_under_load_answers_507_on_a_full_disk_and_loses_nothing(small_disk, small_model, tmp_path):
    """Concurrent HTTP adds into a data folder on a small disk: once it is full the adds are refused with 507,
    nothing acknowledged is lost, and after space returns the service takes adds again and its libraries verify."""
    import httpx

    from tests.conftest import make_clip
    from tests.test_service import Service

    filler = small_disk / "filler"
    filler.write_bytes(b"\1" * (512 << 10))
    clip = make_clip(tmp_path / "clip.mp4", 8).read_bytes()
    service = Service(
        {"DEEPHASH_MODEL": str(small_model), "DEEPHASH_DATA": str(small_disk / "data"), "DEEPHASH_AUTH": "open"},
        tmp_path / "service.log",
    )
    acknowledged, statuses = set(), Counter()

    def add(video_id: str) -> int:
        files = {"video": ("v.mp4", clip, "video/mp4")}
        status = httpx.post(f"{service.url}/add", files=files, data={"video_id": video_id}, timeout=60).status_code
        if status == 200:
            acknowledged.add(video_id)
        statuses[status] += 1
        return status

    try:
        with ThreadPoolExecutor(4) as pool:
            for start in range(0, 20_000, 64):
                results = list(pool.map(add, [f"{'x' * 200}-{n}" for n in range(start, start + 64)]))
                if 507 in results:
                    break
        assert statuses[507] > 0 and acknowledged, statuses
        assert set(statuses) <= {200, 507}, statuses  # a full disk is never the caller's fault nor a 500
        filler.unlink()  # space returns
        assert add("after-space-returned") == 200
    finally:
        service.stop()
    with Library.open(small_disk / "data" / "video", writable=True) as library:
        assert library.verify() == []
        assert all(video_id in library for video_id in acknowledged)
