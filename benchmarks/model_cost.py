"""What the low-pass before the backbone, its second scale and the change in the anchors cost: the model as built
against the same weights without them.

Both graphs are exported from one model folder into a temporary folder and run by ONNX Runtime on the same
uint8 frames (all cores), alternating rounds so that the machine's drift hits both alike. The peer is the
graph with ``detail_pool = 1`` (frames at full detail) and one scale (``second_scale_pool = 1``) whose anchors
read the frames' mean alone (``motion_weight = 0``, the mean's first part of the planes), as models before the
quality work ran; the ratio is ours over it.

    python benchmarks/model_cost.py [--model artifacts/default-model] [--videos 200]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import cpu_description  # benchmarks/machine.py, beside this script
from paths import DEFAULT_MODEL

from deephash.model.artifacts import load_model
from deephash.model.network import DeepHashNet
from deephash.model.onnx import OnnxRunner, export_onnx


def earlier_form(model: DeepHashNet) -> DeepHashNet:
    """The same weights at full detail and one scale, the anchors reading the frames' mean alone."""
    peer = copy.deepcopy(model)
    peer.encoder.detail_pool = 1
    if peer.encoder.second_scale_pool > 1:
        peer.encoder.second_scale_pool = 1
        peer.encoder.regional_dim //= 2  # the full-size scale comes first in every part
        peer.encoder.output_dim = peer.encoder.feature_dim + peer.encoder.regional_dim
    head = peer.head
    if head.motion_weight > 0:
        mean_part = peer.encoder.regional_dim
        head.motion_weight = 0.0
        head.instance_centre = head.instance_centre[:mean_part].clone()
        head.instance_planes = head.instance_planes[:mean_part].clone()
    return peer


def export_pair(model: DeepHashNet, folder: Path) -> dict[str, OnnxRunner]:
    config = model.config
    example = torch.zeros(2, config.num_frames, 3, config.frame_size, config.frame_size, dtype=torch.uint8)
    built = (
        f"built (pool {config.detail_pool}, scales pool {config.second_scale_pool}, motion {config.motion_weight:g})"
    )
    graphs = {built: model, "full detail, mean alone": earlier_form(model)}
    return {
        name: OnnxRunner(export_onnx(graph, example, folder / f"graph{index}.onnx", model.output_names()))
        for index, (name, graph) in enumerate(graphs.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
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
