"""A full disk under a library: the write fails cleanly, nothing acknowledged is lost, the library verifies,
and it takes writes again once space returns. A real small file system (tmpfs) where the machine allows it."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from deephash.errors import StorageFailure
from deephash.index import Library


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_fails_the_write_and_loses_nothing(small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\1" * (256 << 10))  # space an operator can free later
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
    library.close()
    filler.unlink()  # space returns
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
