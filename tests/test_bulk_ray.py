"""Bulk hashing on a real local Ray cluster: a job killed three times at random moments, then resumed, commits
every good video exactly once with the embedded hasher's code and reports every bad one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from deephash.hasher import EmbeddedHasher
from deephash.index import Library
from deephash.model.artifacts import model_version
from deephash.offline.bulk_job import ERRORS_FILE, BulkOptions, run_bulk_job
from deephash.offline.manifest import read_manifest
from deephash.offline.versions import DataVersions, version_name
from deephash.video.files import write_video

pytestmark = pytest.mark.slow  # a local Ray cluster

GOOD, BROKEN = 400, 20  # ~5 % broken


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """A manifest of small generated videos and broken files of several kinds: (path, good ids, bad ids)."""
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    lines, good, bad = [], [], []
    for index in range(GOOD):
        frames = [rng.integers(0, 256, (36, 48, 3), dtype=np.uint8).repeat(2, 0).repeat(2, 1) for _ in range(6)]
        path = write_video(folder / f"v{index}.mp4", frames, fps=6)
        good.append(f"video-{index}")
        lines.append(f"video-{index}\t{path if index % 2 else path.as_uri()}")
    kinds = [b"", b"plain text, not a video", rng.bytes(5000), (folder / "v0.mp4").read_bytes()[:600]]
    for index in range(BROKEN):
        path = folder / f"broken{index}.mp4"
        path.write_bytes(kinds[index % len(kinds)])
        bad.append(f"broken-{index}")
        lines.append(f"broken-{index}\t{path}")
    order = rng.permutation(len(lines))
    manifest_path = folder / "manifest.txt"
    manifest_path.write_text("".join(lines[i] + "\n" for i in order))
    return manifest_path, good, bad


def _start(manifest_path: Path, data: Path, model: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "deephash.cli.main", "bulk-hash", str(manifest_path), "--data", str(data)]
    command += ["--model", str(model), "--num-cpus", "2", "--model-workers", "2", "--commit-every", "8"]
    log = (data.parent / "bulk.log").open("a")
    return subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)


def _committed(out: Path) -> int:
    if not (out / "video" / "manifest.json").is_file():
        return 0
    with Library.open(out / "video") as library:
        return len(library)


def _kill_session(process: subprocess.Popen) -> None:
    """SIGKILL the driver and every process of its session (the local Ray cluster it started): a crash."""
    members = [p for p in psutil.process_iter(["pid"]) if _session(p.pid) == process.pid]
    for member in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member.pid, signal.SIGKILL)
    process.wait()
    psutil.wait_procs(members, timeout=30)


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def test_killed_three_times_then_resumed_commits_every_video_once(manifest, small_model, tmp_path):
    manifest_path, good, bad = manifest
    data = tmp_path / "data"
    out = DataVersions(data).folder(version_name(model_version(small_model)))
    rng = np.random.default_rng(1)
    kills = []
    for _ in range(3):
        before, process = _committed(out), _start(manifest_path, data, small_model)
        deadline = time.monotonic() + 120
        while _committed(out) <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 0.8))  # a random moment of a job that is committing
        assert process.poll() is None, "the job ended before it could be killed: make it longer"
        _kill_session(process)
        kills.append(_committed(out))
    assert kills[0] > 0 and kills[-1] < GOOD, kills  # every kill landed in the middle of the job
    final = _start(manifest_path, data, small_model)
    assert final.wait(timeout=300) == 0, (tmp_path / "bulk.log").read_text()[-3000:]

    with Library.open(out / "video") as library:
        stats = library.stats()
        assert library.verify() == []
        assert stats["rows"] == stats["rows_including_tombstones"] == GOOD  # each good video written once
        stored = {video_id: library.get(video_id).code for video_id in good}
    errors = [json.loads(line) for line in (out / ERRORS_FILE).read_text().splitlines()]
    assert sorted(row["video_id"] for row in errors) == sorted(bad)  # each bad one reported once
    assert all(row["error"] for row in errors)
    hasher = EmbeddedHasher(small_model)
    paths = dict(line.split("\t") for line in manifest_path.read_text().splitlines())
    for video_id in good[::7]:
        path = paths[video_id].removeprefix("file://")
        assert np.array_equal(stored[video_id], hasher.hash_video(path).code), video_id


def _cuda_missing() -> str | None:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "no CUDA provider in this onnxruntime (a GPU machine with onnxruntime-gpu runs this test)"
    return None


@pytest.mark.skipif(_cuda_missing() is not None, reason=str(_cuda_missing()))
def test_model_actors_on_a_gpu_give_the_codes_of_the_cpu(manifest, small_model, tmp_path):
    entries = read_manifest(manifest[0])[:60]
    codes = {}
    for device, gpus in (("cpu", 0.0), ("gpu", 1.0)):
        run_bulk_job(entries, tmp_path / device, small_model, BulkOptions(gpus_per_worker=gpus), progress=False)
        with Library.open(tmp_path / device / "video") as library:
            codes[device] = {video_id: library.get(video_id).code for video_id in library.video_ids()}
    assert codes["gpu"].keys() == codes["cpu"].keys()
    differing = [np.unpackbits(codes["gpu"][v] ^ codes["cpu"][v]).sum() for v in codes["cpu"]]
    assert np.mean(differing) <= 1.28, differing  # at most 1 % of the bits: GPU float sums differ slightly
