"""Which verification descriptor to ship: each candidate form's recall, bytes per video and re-rank cost.

Every form is fitted on the generated footage the instance stage learns from (``StreamPlan``, the build's cached
views; the last ``--held-out`` videos and the look-alike groups kept out) and measured on held-out generated
footage and on the real-footage check (1,004 edited copies among 59 originals and 156 generated videos; never
fitted or tuned on). For each form: recall@1 of the form alone (every pool video compared), and of the two-stage
search the service runs: the model's 128-bit codes (plain Hamming, all groups) give the top K candidates, the form
re-ranks them (the query's float embedding against the stored form). Candidate recall@K says what the scan leaves
to re-rank. The float descriptor (cosine of the whole regional descriptor) is the ceiling.

    python benchmarks/verification.py [--model artifacts/default-model] [--data data] [--dims 128 256 512]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import cpu_description  # benchmarks/machine.py, beside this script
from paths import DATA, DEFAULT_MODEL

from deephash.evaluation import model_codes
from deephash.metrics import distance_matrix, recall_at
from deephash.model.artifacts import load_model
from deephash.model.pooling import video_descriptor_array
from deephash.real_footage import build_real_footage, footage_features, generated_distractor_features
from deephash.training.instance import whitened_directions
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.verification import fit_embedding, normalise, quantise

CANDIDATES = (10, 20, 50, 100)


def two_stage_recall(hamming: np.ndarray, similarity: np.ndarray, targets: np.ndarray, k: int) -> tuple[float, float]:
    """(recall@1 after re-ranking the top ``k`` by Hamming with ``similarity``, candidate recall@k)."""
    candidates = np.argsort(hamming, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(similarity, candidates, axis=1).argmax(axis=1)
    best = candidates[np.arange(len(targets)), picked]
    return float((best == targets).mean()), float((candidates == targets[:, None]).any(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder (its encoder and codes)")
    parser.add_argument("--data", type=Path, default=DATA, help="data folder of the build (footage and caches)")
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 256, 512], help="embedding dimensions")
    parser.add_argument("--held-out", type=int, default=200, help="generated videos kept out of fitting")
    args = parser.parse_args()
    print(cpu_description())
    model = load_model(args.model)
    config, feature_dim = model.config, model.encoder.feature_dim
    footage = build_real_footage(args.data / "real")
    variants, pool = footage_features(
        model, footage, generated_distractor_features(model, args.data), args.data / "cache"
    )
    queries, database = (
        video_descriptor_array(part[..., feature_dim:], config.motion_weight) for part in (variants, pool)
    )
    targets, families = footage.targets, np.array(footage.families)
    hamming = distance_matrix(model_codes(model, variants).codes, model_codes(model, pool).codes)
    cache = args.data / "cache"
    views = video_views(
        model.encoder, StreamPlan(), config.frame_spec, cache / "instance_views.npy", config.motion_weight
    )
    alike = video_views(
        model.encoder, LookAlikePlan(), config.frame_spec, cache / "look_alike_views.npy", config.motion_weight
    )
    train, held_out = views[: -args.held_out], np.concatenate([views[-args.held_out :], alike])
    print(
        f"fitted on {len(train)} generated videos x {train.shape[1]} views; held out {len(held_out)}; real footage "
        f"{len(queries)} queries, a pool of {len(database)}"
    )

    forms: dict[str, tuple[Callable, Callable, int, int]] = {}  # name → (query side, stored side, bytes, params)
    forms["float descriptor"] = (normalise, normalise, 4 * queries.shape[1], 0)
    for dims in args.dims:
        embedding = fit_embedding(train, dims, config.descriptor)
        params = embedding.planes.size
        forms[f"whitened {dims}, float32"] = (embedding.embed, embedding.embed, 4 * dims, params)

        def stored_int8(x, embedding=embedding):
            values, scales = quantise(embedding.embed(x))
            return values.astype(np.float32) * scales[:, None]

        forms[f"whitened {dims}, int8"] = (embedding.embed, stored_int8, dims + 2, params)
    for bits in (512, 1024):
        centre, planes, _ = whitened_directions(normalise(train), bits, 0.1, 1024)

        def signs(x, centre=centre, planes=planes):
            return np.where((normalise(x) - centre) @ planes >= 0, 1.0, -1.0).astype(np.float32)

        forms[f"whitened sign, {bits} bits"] = (signs, signs, bits // 8, planes.size)

    code_alone = recall_at(hamming, targets)[1]
    print(f"\nthe 128-bit code alone (plain Hamming, all groups): recall@1 {code_alone:.3f}")
    header = f"{'form':<28}{'bytes':>7}{'params M':>9}{'held-out':>9}{'alone':>7}" + "".join(
        f"{'2-stage@' + str(k):>12}{'cand@' + str(k):>9}" for k in CANDIDATES
    )
    print(header)
    results = {}
    for name, (query_side, stored_side, size, params) in forms.items():
        held = held_out.astype(np.float32)
        q_held = query_side(held[:, 1:].reshape(-1, held.shape[-1]))
        s_held = stored_side(held[:, 0])
        held_targets = np.repeat(np.arange(len(held)), held.shape[1] - 1)
        held_recall = recall_at(-(q_held @ s_held.T), held_targets)[1]
        similarity = query_side(queries) @ stored_side(database).T
        alone = recall_at(-similarity, targets)[1]
        cells = ""
        for k in CANDIDATES:
            staged, candidates = two_stage_recall(hamming, similarity, targets, k)
            cells += f"{staged:>12.3f}{candidates:>9.3f}"
        results[name] = similarity
        print(f"{name:<28}{size:>7}{params / 1e6:>9.2f}{held_recall:>9.3f}{alone:>7.3f}{cells}")

    print("\nper family, recall@1: float descriptor alone; each form's two-stage search at K = 50")
    names = list(dict.fromkeys(footage.families))
    print(f"{'form':<28}" + "".join(f"{n[:11]:>12}" for n in names))
    for name, similarity in results.items():
        row = ""
        for family in names:
            rows = families == family
            row += f"{two_stage_recall(hamming[rows], similarity[rows], targets[rows], 50)[0]:>12.3f}"
        print(f"{name:<28}{row}")

    values, scales = quantise(normalise(np.random.default_rng(0).standard_normal((100_000, 256))))
    query = normalise(np.random.default_rng(1).standard_normal(256))
    rows = np.random.default_rng(2).choice(len(values), 500, replace=False)
    started = time.perf_counter()
    for _ in range(200):
        (values[rows].astype(np.float32) * scales[rows, None]) @ query
    print(f"\nre-rank cost, 256 int8 dims: {1e6 * (time.perf_counter() - started) / 200:.0f} µs for 500 candidates")


if __name__ == "__main__":
    main()
