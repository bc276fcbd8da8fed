"""The failure campaign, short form (benchmarks/soak.py runs the long one): nothing acknowledged is lost."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from soak import campaign  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

MEMORY_BOUND_MIB = 256


def test_sigkills_under_mixed_load_lose_no_acknowledged_write(default_model, tmp_path):
    report = campaign(default_model, tmp_path, seconds=45, kills=3, threads=3, disk_mib=64)
    assert report["acknowledged_adds"] > 20 and report["acknowledged_removes"] > 0, report
    assert report["kills"] == {"service": 2, "worker": 1} and report["restarts"] == 2
    assert report["lost"] == [] and report["resurrected"] == [], report
    # how fast hostile inputs are refused is a figure the campaign prints, not asserted: a request that meets a
    # restarting worker waits for it (a fresh-clone CI run saw one past 5 s)
    assert report["unexpected_5xx"] == [], report
    assert report["library_problems"] == {"video": [], "audio": []}, report
    assert report["outcomes"].get("hostile 400", 0) > 0 and "hostile 200" not in report["outcomes"], report
    # bounded memory: no hostile upload (a decompression bomb included) makes the server hold much more
    assert max(report["hostile_memory_mib"].values()) < MEMORY_BOUND_MIB, report["hostile_memory_mib"]
    disk_full = report["disk_full"]
    if disk_full is None:
        pytest.skip("no small file system could be mounted here for the disk-full phase (needs root)")
    assert disk_full["statuses"].get(507, 0) > 0 and disk_full["after_space_returned"] == 200, disk_full
