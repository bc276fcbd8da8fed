"""The default recipe at other code lengths, beside the 128-bit default model: real-footage recall@1 of each code
and its margin over SimHash of the same length (docs/measurements.md, "64-bit codes"). The build makes only the
128-bit model; this trains the others on the build's data folder (datasets and caches reused) into
``DATA/models/<bits>bit``.

    python benchmarks/code_lengths.py [--bits 64] [--data data] [--seed 0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from machine import cpu_description  # benchmarks/machine.py, beside this script
from paths import DATA, DEFAULT_MODEL

from deephash.model.config import LABELS_FILE, ModelConfig, Taxonomy
from deephash.model.encoder import FrameEncoder
from deephash.real_footage import margin_over_simhash, measure_real_footage, real_footage_table
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.training.trainer import TrainOptions
from export.release import build_model, ensure_dataset, instance_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bits", type=int, nargs="+", default=[64], help="code lengths to build (multiples of 64)")
    parser.add_argument("--data", type=Path, default=DATA, help="the build's data folder")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the 128-bit default model")
    parser.add_argument("--seed", type=int, default=0, help="seed of both training stages, as the build's")
    args = parser.parse_args()
    print(cpu_description())
    dataset_root = ensure_dataset(args.data / "synthetic")
    cache = args.data / "cache"
    config = ModelConfig(taxonomy=Taxonomy.load(dataset_root / LABELS_FILE))
    encoder = FrameEncoder.for_config(config).eval()
    spec, motion = config.frame_spec, config.motion_weight
    views = video_views(encoder, StreamPlan(), spec, cache / "instance_views.npy", motion)
    alike = video_views(encoder, LookAlikePlan(), spec, cache / "look_alike_views.npy", motion)
    change_from = encoder.regional_dim if motion > 0 else None
    folders = {128: args.model}
    for bits in args.bits:
        stage = instance_stage(views, bits, 200, config.descriptor, change_from, alike, args.seed)
        folders[bits] = args.data / "models" / f"{bits}bit{'' if args.seed == 0 else f'-seed{args.seed}'}"
        build_model(folders[bits], dataset_root, cache, bits, replace(TrainOptions(), seed=args.seed), stage)
    for bits, folder in folders.items():
        real, draws = measure_real_footage(folder, args.data)
        print(f"{bits} bits, {real_footage_table(real)}")
        print(f"{bits} bits: margin over SimHash {margin_over_simhash(real, draws):+.3f}")


if __name__ == "__main__":
    main()
