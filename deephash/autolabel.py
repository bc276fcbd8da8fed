"""Auto-labelling: a model trained on the labelled part labels the rest, keeping only
predictions confident enough to reach a target precision on held-out labelled videos; others stay -1."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deephash.data.dataset import read_split
from deephash.evaluation import FeatureStore
from deephash.model.network import DeepHashNet


@dataclass(frozen=True)
class Predictions:
    """Per label dimension: predicted ids and their confidence."""

    ids: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]


def predict(model: DeepHashNet, features: np.ndarray, batch: int = 512) -> Predictions:
    """L1, L2 (confidence = P(L1) * P(L2 | L1)) and extra labels from cached backbone features."""
    names = model.output_names()
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(features), batch):
            block = torch.from_numpy(np.asarray(features[start : start + batch], dtype=np.float32))
            for name, value in zip(names, model.outputs_from_head(model.head(block))):
                columns[name].append(value.numpy())
    merged = {name: np.concatenate(values) for name, values in columns.items()}
    ids = {"l1": merged["l1_id"], "l2": merged["l2_id"]}
    confidence = {"l1": merged["l1_prob"], "l2": merged["l1_prob"] * merged["l2_prob"]}
    for name in model.config.taxonomy.extra:
        ids[name], confidence[name] = merged[f"{name}_id"], merged[f"{name}_prob"]
    return Predictions(ids, confidence)


def precision_threshold(confidence: np.ndarray, correct: np.ndarray, target: float, minimum: int = 5) -> float:
    """The lowest confidence t whose predictions with confidence >= t reach ``target`` precision (over at
    least ``minimum`` held-out videos); ``inf`` when no t does — then nothing is auto-labelled."""
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    counts = np.arange(1, len(order) + 1)
    good = (hits / counts >= target) & (counts >= minimum)
    if not good.any():
        return float("inf")
    return float(confidence[order][np.flatnonzero(good)[-1]])


def autolabel(
    model: DeepHashNet,
    dataset_root: Path,
    cache_dir: Path,
    split: str = "train",
    held_out: str = "val",
    target_precision: float = 0.99,
    out: Path | None = None,
) -> dict[str, dict[str, float]]:
    """Fill the -1 labels of ``split`` where the model is confident enough; write ``out`` (a CSV)."""
    taxonomy = model.config.taxonomy
    store = FeatureStore(model, cache_dir)
    reference = read_split(dataset_root, held_out, taxonomy)
    target = read_split(dataset_root, split, taxonomy)
    reference_predictions = predict(model, store.features(held_out, reference.paths))
    predictions = predict(model, store.features(split, target.paths))
    truth = {"l1": reference.l1, "l2": reference.l2, **reference.extra}
    current = {"l1": target.l1.copy(), "l2": target.l2.copy(), **{k: v.copy() for k, v in target.extra.items()}}
    report = {}
    for name, labels in truth.items():
        known = labels >= 0
        correct = reference_predictions.ids[name][known] == labels[known]
        threshold = precision_threshold(reference_predictions.confidence[name][known], correct, target_precision)
        fill = (current[name] < 0) & (predictions.confidence[name] >= threshold)
        current[name][fill] = predictions.ids[name][fill]
        report[name] = {
            "threshold": threshold,
            "filled": int(fill.sum()),
            "still_unknown": int((current[name] < 0).sum()),
        }
    if out is not None:
        with out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", *current])
            for row, path in enumerate(target.paths):
                writer.writerow([path.relative_to(dataset_root), *(int(values[row]) for values in current.values())])
    return report
