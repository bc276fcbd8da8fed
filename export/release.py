"""Build the default model from nothing, offline: dataset → training → mask → ONNX → evaluation.

Everything it measures is written into the model's ``metadata.json`` and printed, so the figures quoted in
an issue or a README can be traced to a run.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from deephash.copy_figures import fit_on_generated, real_copy_figures
from deephash.data.make_dataset import DatasetPlan, make_dataset
from deephash.decision import PRECISION_TARGET
from deephash.distractors import distractor_embeddings, measure_at_scale, scale_table
from deephash.evaluation import evaluate_dataset, tune_and_save_mask
from deephash.model.artifacts import DEFAULT_MODEL_DIR, load_model, update_metadata
from deephash.model.batching import measure_model_batching
from deephash.model.config import LABELS_FILE, DescriptorSettings, ModelConfig, Taxonomy
from deephash.model.encoder import FrameEncoder
from deephash.real_footage import (
    build_real_footage,
    margin_over_simhash,
    measure_real_footage,
    real_footage_table,
    simhash_line,
)
from deephash.training.instance import INSTANCE_FILE, InstanceOptions, InstanceStage, fit_instance_stage
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.training.trainer import TrainOptions, train
from deephash.verification import Embedding, fit_embedding
from export.onnx_model import export_model_onnx

DEFAULT_DATA_DIR = Path("data")
CODE_BITS = 128  # the default model's code length (half L1, half L2)
VERIFY_DIMS = 512  # the verification descriptor's dimensions (docs/measurements.md, benchmarks/verification.py)


def ensure_dataset(root: Path, plan: DatasetPlan = DatasetPlan()) -> Path:
    """Make the synthetic dataset unless a complete one is already there."""
    if not (root / "variants.csv").is_file():
        make_dataset(root, plan)
    return root


def instance_stage(
    views: np.ndarray,
    code_bits: int,
    held_out: int,
    descriptor: DescriptorSettings,
    change_from: int | None,
    look_alikes: np.ndarray,
    seed: int = 0,
) -> InstanceStage:
    """The instance stage of ``code_bits``, its held-out figure printed."""
    options = InstanceOptions(code_bits=code_bits, seed=seed)
    stage = fit_instance_stage(views, options, held_out, descriptor, change_from, look_alikes)
    print(f"instance stage, {code_bits} bits ({stage.name}): held-out generated recall@1 {stage.held_out_recall:.3f}")
    return stage


def build_model(
    model_dir: Path,
    dataset_root: Path,
    cache_dir: Path,
    code_bits: int,
    options: TrainOptions,
    stage: InstanceStage,
    verification: Embedding | None = None,
) -> dict:
    """Train the cascade of ``code_bits`` (half L1, half L2) on the instance stage's projection (with the
    ``verification`` embedding as its descriptor output), mask it, export it, evaluate it."""
    taxonomy = Taxonomy.load(dataset_root / LABELS_FILE)
    config = ModelConfig(taxonomy=taxonomy, l1_bits=code_bits // 2, l2_bits=code_bits // 2)
    projection = stage.projection
    instance_report = {"quantiser": stage.name, "held_out_recall": stage.held_out_recall}
    model_dir.mkdir(parents=True, exist_ok=True)
    projection.save(model_dir / INSTANCE_FILE)
    update_metadata(model_dir, {"instance_stage": instance_report})
    result = train(
        dataset_root, model_dir, config, options, cache_dir=cache_dir, instance=projection, verification=verification
    )
    mask = tune_and_save_mask(model_dir, dataset_root, cache_dir)
    version = export_model_onnx(model_dir)
    report = evaluate_dataset(load_model(model_dir), mask, dataset_root, cache_dir)
    report.plot(model_dir / "plots")
    print(report.table())
    summary = {
        "model_version": version,
        "train_seconds": result.seconds,
        "feature_seconds": result.feature_seconds,
        "evaluation": report.to_json(),
    }
    update_metadata(model_dir, {"evaluation": report.to_json()})
    return summary


def build_default_model(
    model_dir: Path = DEFAULT_MODEL_DIR,
    data_dir: Path = DEFAULT_DATA_DIR,
    plan: DatasetPlan = DatasetPlan(),
    options: TrainOptions = TrainOptions(),
    stream: StreamPlan = StreamPlan(),
    held_out: int = 200,
    look_alikes: LookAlikePlan = LookAlikePlan(),
    distractors: int = 10_000,
    seed: int = 0,
) -> dict:
    """The 128-bit default model in ``model_dir`` (other code lengths: ``benchmarks/code_lengths.py``).

    The instance stage and the verification embedding learn from ``stream`` (generated videos, the last
    ``held_out`` kept for the stage's own check, beside the groups of ``look_alikes``); the cascade from the
    synthetic labelled dataset; real footage only measures. The duplicate threshold the model recommends is chosen
    among ``distractors`` generated stills (``distractors.py``). ``seed`` reseeds both training stages (the ITQ
    rotation's start, the cascade and its augmented views) and nothing else, so builds of several seeds on one data
    folder share its datasets and caches and differ only by what training draws: the recipe's spread.
    """
    options = replace(options, seed=seed)
    started = time.monotonic()
    dataset_root = ensure_dataset(data_dir / "synthetic", plan)
    cache_dir = data_dir / "cache"
    config = ModelConfig(taxonomy=Taxonomy.load(dataset_root / LABELS_FILE))
    encoder = FrameEncoder.for_config(config).eval()
    spec, motion_weight = config.frame_spec, config.motion_weight
    views = video_views(encoder, stream, spec, cache_dir / "instance_views.npy", motion_weight)
    alike = video_views(encoder, look_alikes, spec, cache_dir / "look_alike_views.npy", motion_weight)
    change_from = encoder.regional_dim if motion_weight > 0 else None
    stage = instance_stage(views, CODE_BITS, held_out, config.descriptor, change_from, alike, seed)
    verification = fit_embedding(views[:-held_out], VERIFY_DIMS, config.descriptor)
    built = build_model(model_dir, dataset_root, cache_dir, CODE_BITS, replace(options), stage, verification)
    real, baseline_draws = measure_real_footage(model_dir, data_dir)
    print(real_footage_table(real))
    print(simhash_line(real, baseline_draws))
    margin = margin_over_simhash(real, baseline_draws)
    scale = measure_at_scale(model_dir, data_dir, distractors)
    print(scale_table(scale))
    copies = copy_search(model_dir, data_dir, views, held_out, alike, distractors)
    summary = {
        "seconds": time.monotonic() - started,
        "model": built,
        "real_footage_recall": real,
        "simhash_real_recall_by_seed": baseline_draws,
        "beats_simhash_on_real_footage": bool(margin > 0),
        "margin_over_simhash_mean": margin,
    }
    update_metadata(model_dir, {"duplicate_decision": scale, "copy_search": copies})
    update_metadata(model_dir, {"default_build": json.loads(json.dumps(summary, default=_plain))})
    batching = measure_model_batching(model_dir)  # this machine is where a laptop's service will run it
    batching.save(model_dir)
    print(batching.table())
    return summary


def copy_search(
    model_dir: Path, data_dir: Path, views: np.ndarray, held_out: int, alike: np.ndarray, distractors: int
) -> dict:
    """The model's duplicate decision fitted on generated footage (saved beside it) and what copy search gives on
    real footage, printed."""
    model = load_model(model_dir)
    others = distractor_embeddings(model, distractors, data_dir / "cache")
    decision, generated = fit_on_generated(model, views, held_out, alike, others)
    decision.save(model_dir)
    real = real_copy_figures(model, build_real_footage(data_dir / "real"), data_dir, decision, distractors)
    recall, decided = real["recall_at_1"], real["decision"]
    print(
        f"copy search on real footage, recall@1: code alone {recall['code']:.3f}, two-stage {recall['two_stage']:.3f}, "
        f"float descriptor {recall['float_descriptor']:.3f}; decided among {distractors:,} distractors: found "
        f"{decided['found']:.3f} at precision {decided['precision']:.3f} (threshold {decision.threshold:.3f}, chosen "
        f"on generated footage for precision {PRECISION_TARGET})"
    )
    return {"beta": decision.beta, "threshold": decision.threshold, "generated": generated.to_json(), "real": real}


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))
