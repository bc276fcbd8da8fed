"""What the low-pass before the backbone costs: the model as built against the same weights without it.

Both graphs are exported from one model folder into a temporary folder and run by ONNX Runtime on the same
uint8 frames (all cores), alternating rounds so that the machine's drift hits both alike. The peer is the
graph with ``detail_pool = 1`` (frames at full detail, as models before the low-pass ran); the ratio is ours
over it.

    python benchmarks/model_cost.py [--model artifacts/default-model] [--videos 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import cpu_description  # benchmarks/machine.py, beside this script

from deephash.model.artifacts import DEFAULT_MODEL_DIR, load_model
from deephash.model.network import DeepHashNet
from deephash.model.onnx import OnnxRunner, export_onnx


def export_pair(model: DeepHashNet, folder: Path) -> dict[str, OnnxRunner]:
    config = model.config
    example = torch.zeros(2, config.num_frames, 3, config.frame_size, config.frame_size, dtype=torch.uint8)
    runners = {}
    for name, pool in ((f"built (detail_pool={config.detail_pool})", config.detail_pool), ("full detail", 1)):
        model.encoder.detail_pool = pool
        path = export_onnx(model, example, folder / f"pool{pool}.onnx", model.output_names())
        runners[name] = OnnxRunner(path)
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--videos", type=int, default=200, help="videos per graph and batch size")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(cpu_description())
    with tempfile.TemporaryDirectory() as folder:
        model = load_model(args.model)
        config = model.config
        runners = export_pair(model, Path(folder))
        rng = np.random.default_rng(0)
        print(f"{'batch':>5}  " + "  ".join(f"{name:>26}" for name in runners) + f"  {'ratio':>6}")
        for batch in (1, 8):
            frames = rng.integers(0, 256, (batch, config.num_frames, 3, config.frame_size, config.frame_size))
            frames = frames.astype(np.uint8)
            seconds = dict.fromkeys(runners, 0.0)
            for runner in runners.values():
                runner.run(frames)  # warm-up
            for _ in range(args.rounds):
                for name, runner in runners.items():
                    started = time.perf_counter()
                    for _ in range(max(1, args.videos // batch // args.rounds)):
                        runner.run(frames)
                    seconds[name] += time.perf_counter() - started
            videos = max(1, args.videos // batch // args.rounds) * args.rounds * batch
            rates = [videos / seconds[name] for name in runners]
            cells = "  ".join(f"{rate:>20.1f} vid/s" for rate in rates)
            print(f"{batch:>5}  {cells}  {rates[0] / rates[1]:>6.2f}")


if __name__ == "__main__":
    main()
