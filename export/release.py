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

from deephash.data.make_dataset import DatasetPlan, make_dataset
from deephash.distractors import measure_at_scale, scale_table
from deephash.evaluation import evaluate_dataset, tune_and_save_mask
from deephash.model.artifacts import DEFAULT_MODEL_DIR, load_model, update_metadata
from deephash.model.batching import measure_model_batching
from deephash.model.config import LABELS_FILE, ModelConfig, Taxonomy
from deephash.model.encoder import FrameEncoder
from deephash.real_footage import margin_over_simhash, measure_real_footage, real_footage_table, simhash_line
from deephash.training.instance import INSTANCE_FILE, InstanceOptions, InstanceStage, fit_instance_stage
from deephash.training.instance_data import LookAlikePlan, StreamPlan, video_views
from deephash.training.trainer import TrainOptions, train
from export.onnx_model import export_model_onnx

DEFAULT_DATA_DIR = Path("data")


def ensure_dataset(root: Path, plan: DatasetPlan = DatasetPlan()) -> Path:
    """Make the synthetic dataset unless a complete one is already there."""
    if not (root / "variants.csv").is_file():
        make_dataset(root, plan)
    return root


def instance_stage(
    views: np.ndarray,
    code_bits: int,
    held_out: int,
    change_from: int | None,
    look_alikes: np.ndarray,
    seed: int = 0,
) -> InstanceStage:
    """The instance stage of ``code_bits``, its held-out figures printed."""
    options = InstanceOptions(code_bits=code_bits, seed=seed)
    stage = fit_instance_stage(views, options, held_out, change_from, look_alikes)
    print(
        f"instance stage, {code_bits} bits, held-out generated recall@1: {_figures(stage.recall)}; using {stage.chosen}"
    )
    return stage


def build_model(
    model_dir: Path,
    dataset_root: Path,
    cache_dir: Path,
    code_bits: int,
    options: TrainOptions,
    stage: InstanceStage,
) -> dict:
    """Train the cascade of ``code_bits`` (half L1, half L2) on the instance stage's projection, mask it, export
    it, evaluate it."""
    taxonomy = Taxonomy.load(dataset_root / LABELS_FILE)
    config = ModelConfig(taxonomy=taxonomy, l1_bits=code_bits // 2, l2_bits=code_bits // 2)
    projection = stage.projection
    instance_report = {
        "held_out_recall": {**stage.recall, "chosen": stage.chosen, "learned_from": stage.learned_from},
        "final_epoch": stage.history[-1] if stage.history else {},
    }
    model_dir.mkdir(parents=True, exist_ok=True)
    projection.save(model_dir / INSTANCE_FILE)
    update_metadata(model_dir, {"instance_stage": instance_report})
    result = train(dataset_root, model_dir, config, options, cache_dir=cache_dir, instance=projection)
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
    compare_bits: tuple[int, ...] = (64,),
    stream: StreamPlan = StreamPlan(),
    held_out: int = 200,
    look_alikes: LookAlikePlan = LookAlikePlan(),
    distractors: int = 10_000,
    seed: int = 0,
) -> dict:
    """The 128-bit default model in ``model_dir``; models of ``compare_bits`` are built for the report.

    The instance stage learns from ``stream`` (generated videos, the last ``held_out`` kept for its own
    check, beside the groups of ``look_alikes``); the cascade from the synthetic labelled dataset; real footage
    only measures. The duplicate threshold the model recommends is chosen among ``distractors`` generated stills
    (``distractors.py``). ``seed`` reseeds both training stages (the ITQ rotations' starts, the learned
    projection, the cascade and its augmented views) and nothing else, so builds of several seeds on one data
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
    stages = {bits: instance_stage(views, bits, held_out, change_from, alike, seed) for bits in (128, *compare_bits)}
    folders = {128: model_dir}
    folders |= {
        bits: data_dir / "models" / (f"{bits}bit" if seed == 0 else f"{bits}bit-seed{seed}") for bits in compare_bits
    }
    summaries = {
        bits: build_model(folder, dataset_root, cache_dir, bits, replace(options), stages[bits])
        for bits, folder in folders.items()
    }
    measured = {}  # the bar holds at every code length, so each is measured on real footage
    for bits, folder in folders.items():
        measured[bits] = measure_real_footage(folder, data_dir, stages[bits].baselines)
        print(f"{bits} bits, {real_footage_table(measured[bits][0])}")
        print(simhash_line(*measured[bits]))
        if bits != 128:
            figures = dict(zip(("recall", "simhash_draws"), measured[bits]))
            update_metadata(folder, {"real_footage": json.loads(json.dumps(figures, default=_plain))})
    real, baseline_draws = measured[128]
    margin = margin_over_simhash(real, baseline_draws)
    scale = measure_at_scale(model_dir, data_dir, distractors)
    print(scale_table(scale))
    summary = {
        "seconds": time.monotonic() - started,
        "by_bits": summaries,
        "real_footage_recall": real,
        "simhash_real_recall_by_seed": baseline_draws,
        "beats_simhash_on_real_footage": bool(margin > 0),
        "margin_over_simhash_mean": margin,
        "margin_over_simhash_mean_by_bits": {bits: margin_over_simhash(*pair) for bits, pair in measured.items()},
    }
    update_metadata(model_dir, {"duplicate_decision": scale})
    update_metadata(model_dir, {"default_build": json.loads(json.dumps(summary, default=_plain))})
    batching = measure_model_batching(model_dir)  # this machine is where a laptop's service will run it
    batching.save(model_dir)
    print(batching.table())
    return summary


def _figures(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in values.items())


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))
