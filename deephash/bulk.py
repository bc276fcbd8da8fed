"""Hashing many videos: frames are sampled in a pool of threads while the model runs on what is ready.

PyAV decodes and ONNX Runtime infers with the GIL released, so threads keep every core busy without copying
frames between processes. Results come back in input order, and a video that cannot be decoded becomes a
result carrying its error: the other videos are hashed all the same.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from deephash.audio import hash_audio
from deephash.errors import VideoError
from deephash.hasher import EmbeddedHasher, VideoHash, with_sampling_note
from deephash.video import SampledFrames, VideoSource


@dataclass(frozen=True)
class Hashed:
    """One input's outcome: its code (and audio code), or the reason it has none."""

    source: VideoSource
    result: VideoHash | None = None
    audio: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Sampled:
    source: VideoSource
    sampled: SampledFrames | None
    audio: np.ndarray | None
    error: str | None


def default_workers() -> int:
    """One decoding thread per core this process may use."""
    return len(os.sched_getaffinity(0))


def hash_many(
    hasher: EmbeddedHasher,
    sources: Iterable[VideoSource],
    workers: int | None = None,
    batch: int = 1,
    audio: bool = True,
) -> Iterator[Hashed]:
    """Each source's :class:`Hashed`, in order. Sampling runs at most ``2 * workers + batch`` videos ahead of
    the model, so memory stays bounded however many sources there are; ``batch`` videos go through the model
    at once (1 is fastest on most CPUs; larger batches pay off on GPUs)."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    workers = workers or default_workers()

    def prepare(source: VideoSource) -> _Sampled:
        try:
            sampled = hasher.sample(source)
            return _Sampled(source, sampled, hash_audio(source) if audio else None, None)
        except (VideoError, OSError) as error:  # a damaged sound track, a file that vanished meanwhile
            return _Sampled(source, None, None, str(error))

    pool = ThreadPoolExecutor(workers, thread_name_prefix="deephash-sample")
    try:
        ready: list[_Sampled] = []
        for item in _in_order(pool, prepare, sources, ahead=2 * workers + batch):
            ready.append(item)
            if sum(waiting.sampled is not None for waiting in ready) == batch:
                yield from _run_model(hasher, ready)
                ready = []
        yield from _run_model(hasher, ready)
    finally:  # a caller that stops early (Ctrl-C, an error) does not wait for the videos read ahead
        pool.shutdown(wait=False, cancel_futures=True)


def _in_order(pool: ThreadPoolExecutor, function, sources: Iterable, ahead: int) -> Iterator:
    """``function(source)`` for each source, computed in ``pool`` at most ``ahead`` ahead, yielded in order."""
    pending: deque[Future] = deque()
    for source in sources:
        pending.append(pool.submit(function, source))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _run_model(hasher: EmbeddedHasher, items: list[_Sampled]) -> Iterator[Hashed]:
    """The model over the decodable items at once; every item back in order."""
    decodable = [item for item in items if item.sampled is not None]
    results = iter(hasher.hash_frames(np.stack([item.sampled.frames for item in decodable])) if decodable else [])
    for item in items:
        if item.sampled is None:
            yield Hashed(item.source, error=item.error)
        else:
            yield Hashed(item.source, with_sampling_note(next(results), item.sampled), item.audio)
