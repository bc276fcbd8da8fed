"""Which batch sizes pay off on the device a model runs on, measured there and kept in the model folder.

On GPUs a batch of 16 videos costs little more than one; on small CPUs a large batch can be slower per video
than running videos one at a time, and a batcher that forms such batches under load makes the server slower
the busier it gets. So the sizes are not guessed: ``deephash export batching`` times the exported model at
each size on this device and writes ``batching.json``; the embedded service's adaptive batcher forms batches
only up to the largest size below which every measured size was at least as fast per video as batch 1, and
Triton's CPU repository prefers those sizes (or does not batch at all). A profile of another machine is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deephash.errors import ModelError
from deephash.model.artifacts import ONNX_FILE, load_config
from deephash.model.onnx import OnnxRunner, default_threads

BATCHING_FILE = "batching.json"
CANDIDATE_SIZES = (1, 2, 4, 8, 16, 32)
MIN_GAIN = 1.05  # a size must run this many times batch 1's videos/s to be worth batching for


@dataclass(frozen=True)
class BatchingProfile:
    """Videos per second at each batch size, on one device."""

    device: str
    threads: int
    videos_per_s: dict[int, float]

    def __post_init__(self) -> None:
        if 1 not in self.videos_per_s:
            raise ModelError("a batching profile needs the rate at batch size 1")

    @property
    def useful_sizes(self) -> tuple[int, ...]:
        """The measured sizes above 1, from the smallest up, as long as each runs at least ``MIN_GAIN`` times
        as many videos per second as batch size 1: a batcher forms any size up to its maximum, so a slower size
        in between ends the run, and a gain within the timing's noise does not pay for the batcher's waiting
        for a batch to fill."""
        single, useful = self.videos_per_s[1], []
        for size, rate in sorted(self.videos_per_s.items()):
            if size == 1:
                continue
            if rate < single * MIN_GAIN:
                break
            useful.append(size)
        return tuple(useful)

    @property
    def max_batch(self) -> int:
        """The largest useful batch size (1: do not batch on this device)."""
        return max(self.useful_sizes, default=1)

    def measured_here(self, threads: int | None = None) -> bool:
        """Whether this profile was measured on this machine's CPU with ``threads`` ONNX Runtime threads (by
        default, every core this process may use)."""
        return self.device == cpu_name() and self.threads == (threads or default_threads())

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / BATCHING_FILE
        data = asdict(self) | {"videos_per_s": {str(size): rate for size, rate in self.videos_per_s.items()}}
        path.write_text(json.dumps(data, indent=2))
        return path

    @classmethod
    def load(cls, model_dir: Path) -> BatchingProfile | None:
        """The profile measured for ``model_dir``, or None when it was never measured."""
        path = Path(model_dir) / BATCHING_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            rates = {int(size): float(rate) for size, rate in data["videos_per_s"].items()}
            return cls(device=str(data["device"]), threads=int(data["threads"]), videos_per_s=rates)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"malformed {path}: {error}") from error

    def table(self) -> str:
        useful = set(self.useful_sizes)
        lines = [f"{self.device}, {self.threads} threads", f"{'batch':>6} {'videos/s':>9}  useful"]
        for size, rate in sorted(self.videos_per_s.items()):
            lines.append(f"{size:>6} {rate:>9.1f}  {'yes' if size in useful else ('-' if size == 1 else 'no')}")
        return "\n".join(lines)


def measure_batching(
    run, frame_shape: tuple[int, ...], device: str, threads: int, sizes=CANDIDATE_SIZES, seconds: float = 2.0
) -> BatchingProfile:
    """Time ``run`` (uint8 ``[B, *frame_shape]`` → outputs) at each size for about ``seconds`` after a warm-up.

    The pixel values do not change the model's cost, so random frames stand in for videos.
    """
    rng = np.random.default_rng(0)
    rates = {}
    for size in sizes:
        batch = rng.integers(0, 256, (size, *frame_shape), dtype=np.uint8)
        run(batch)
        videos, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            run(batch)
            videos += size
        rates[size] = videos / (time.perf_counter() - started)
    return BatchingProfile(device=device, threads=threads, videos_per_s=rates)


def measure_model_batching(model_dir: Path, seconds: float = 2.0) -> BatchingProfile:
    """:func:`measure_batching` of a model folder's ``model.onnx`` with ONNX Runtime on this machine's CPU."""
    config = load_config(model_dir)
    threads = default_threads()
    runner = OnnxRunner(Path(model_dir) / ONNX_FILE, threads)
    shape = (config.num_frames, 3, config.frame_size, config.frame_size)
    return measure_batching(runner.run, shape, cpu_name(), threads, seconds=seconds)


def cpu_name() -> str:
    """The CPU's model name and cores (what a CPU profile was measured on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {len(os.sched_getaffinity(0))} cores"
    except OSError:
        pass
    return "unknown CPU"
