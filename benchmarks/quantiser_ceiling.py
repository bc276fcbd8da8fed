"""How much of the float descriptor's real-footage recall a 128-bit linear sign code can keep, and how much of a
code's recall is the luck of its ITQ rotation's random start.

The quality issue asks the code to keep 98 % of the float descriptor's recall@1. For every fitted quantiser
(fitted on the generated footage the instance stage learns from, never on real footage) this prints three
figures on the real-footage check (each variant finding its original among the originals and the generated
distractors): the 128 projections as floats (cosine; what any sign of that linear map can at best keep), and as
bits, over ``--starts`` random starts of the ITQ rotation (mean, min-max), beside each start's recall on the
held-out generated videos and look-alike groups that the instance stage chooses by. The encoder is the model
folder's; its cached features and views are reused from ``--data``.

    python benchmarks/quantiser_ceiling.py [--model artifacts/default-model] [--data data] [--starts 8]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import cpu_description  # benchmarks/machine.py, beside this script
from paths import DATA, DEFAULT_MODEL
from quantisers import LearnedOptions, fit_pca, fit_pca_itq, train_projection  # benchmarks/quantisers.py
from tqdm import tqdm

from deephash.codes import pack_bits
from deephash.metrics import distance_matrix, recall_at
from deephash.model.artifacts import load_model
from deephash.model.pooling import video_descriptor_array
from deephash.real_footage import build_real_footage, footage_features, generated_distractor_features
from deephash.training.instance import Projection, fit_split_whitened_itq, fit_whitened_itq, normalise, view_recall
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views

HELD_OUT = 200  # as the build: the stream's last videos are kept out of fitting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder (its encoder)")
    parser.add_argument("--data", type=Path, default=DATA, help="data folder of the build (caches)")
    parser.add_argument("--starts", type=int, default=8, help="random starts of each ITQ rotation")
    parser.add_argument("--bits", type=int, default=128, help="code length of every quantiser")
    args = parser.parse_args()
    print(cpu_description())
    model = load_model(args.model)
    feature_dim, motion_weight = model.encoder.feature_dim, model.config.motion_weight
    footage = build_real_footage(args.data / "real")
    distractors = generated_distractor_features(model, args.data)
    variants, pool = footage_features(model, footage, distractors, args.data / "cache")
    queries, database = (video_descriptor_array(part[..., feature_dim:], motion_weight) for part in (variants, pool))
    spec, cache = model.config.frame_spec, args.data / "cache"
    views = video_views(model.encoder, StreamPlan(), spec, cache / "instance_views.npy", motion_weight)
    look_alikes = video_views(model.encoder, LookAlikePlan(), spec, cache / "look_alike_views.npy", motion_weight)
    train, held_out = views[:-HELD_OUT], np.concatenate([views[-HELD_OUT:], look_alikes])

    def real_recall(distances: np.ndarray) -> float:
        return recall_at(distances, footage.targets)[1]

    float_recall = real_recall(-(normalise(queries) @ normalise(database).T))
    print(
        f"real footage: {len(queries)} queries, a pool of {len(database)} videos; quantisers fitted on "
        f"{len(train)} generated videos x {train.shape[1]} views, chosen on {len(held_out)} held out"
    )
    print(f"float descriptor (cosine): {float_recall:.3f}; 98 % of it: {0.98 * float_recall:.3f}")
    change_from = model.encoder.regional_dim
    fits: dict[str, Callable[[int], Projection]] = {
        "pca": lambda start: fit_pca(train, args.bits),
        "pca_itq": lambda start: fit_pca_itq(train, args.bits, seed=start),
        "whitened_itq": lambda start: fit_whitened_itq(train, args.bits, seed=start),
    }
    for change_bits in (args.bits // 8, args.bits // 4) if motion_weight > 0 else ():  # a split needs a change part
        fits[f"split_whitened_itq_{change_bits}"] = lambda start, change_bits=change_bits: fit_split_whitened_itq(
            train, args.bits, change_from, change_bits, seed=start
        )
    header = f"{'quantiser':<24} {'starts':>6} {'held-out':>17} {'real, floats':>13} {'real, bits':>20}"
    rows, starts_of, held_of = [], {}, {}
    for name, fit in fits.items():
        starts = 1 if name == "pca" else args.starts  # PCA has no rotation to start
        held, bits, floats = [], [], 0.0
        for start in tqdm(range(starts), desc=name, leave=False):
            projection = fit(start)
            held.append(view_recall(projection, held_out))
            codes = (pack_bits(projection.bits(part)) for part in (queries, database))
            bits.append(real_recall(distance_matrix(*codes)))
            if start == 0:  # a rotation keeps angles: the projections' cosine is the same from every start
                query_scores, pool_scores = (normalise(projection.scores(part)) for part in (queries, database))
                floats = real_recall(-(query_scores @ pool_scores.T))
        rows.append(f"{name:<24} {starts:>6} {_spread(held):>17} {floats:>13.3f} {_spread(bits):>20}")
        starts_of[name] = fit(0)
        held_of[name] = held[0]
    # the learned projection starts from the quantiser best on held-out footage at start 0, as it once did
    best = max(held_of, key=held_of.get)
    learned, _ = train_projection(train, LearnedOptions(), starts_of[best])
    codes = (pack_bits(learned.bits(part)) for part in (queries, database))
    held, bits = view_recall(learned, held_out), real_recall(distance_matrix(*codes))
    rows.append(f"{'learned (from ' + best + ')':<24} {1:>6} {held:>17.3f} {'':>13} {bits:>20.3f}")
    print("\n".join([header, *rows]))


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    main()
