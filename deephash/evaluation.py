"""Evaluate a model on a dataset: retrieval mAP / P@N / PR with and without the category mask, and
near-duplicate recall per transform — each beside the SimHash baseline measured on the same features."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deephash.baseline import SimHash
from deephash.data.dataset import Split, read_split, read_variants
from deephash.features import (
    BackboneRunner,
    cached_array,
    encoder_digest,
    extract_features,
    sampled_frames_loader,
    video_files_key,
)
from deephash.mask import CategoryMask
from deephash.metrics import (
    RetrievalMetrics,
    distance_matrix,
    mean_average_precision,
    recall_at,
    retrieval_metrics,
)
from deephash.model.artifacts import MASK_FILE, load_model, update_metadata
from deephash.model.network import DeepHashNet


@dataclass(frozen=True)
class CodeSet:
    """Packed codes with the model's predicted categories (for mask lookup)."""

    codes: np.ndarray
    l1: np.ndarray
    l2: np.ndarray


def model_codes(model: DeepHashNet, features: np.ndarray, batch: int = 512) -> CodeSet:
    """The model's outputs from cached backbone features (same graph as serving, minus the backbone)."""
    codes, l1, l2 = [], [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(features), batch):
            block = torch.from_numpy(np.asarray(features[start : start + batch], dtype=np.float32))
            packed, l1_id, _, l2_id, *_ = model.outputs_from_head(model.head(block))
            codes.append(packed.numpy())
            l1.append(l1_id.numpy())
            l2.append(l2_id.numpy())
    return CodeSet(np.concatenate(codes), np.concatenate(l1), np.concatenate(l2))


class FeatureStore:
    """Backbone features of video lists, computed once per encoder and cached on disk."""

    def __init__(self, model: DeepHashNet, cache_dir: Path) -> None:
        self.model, self.cache_dir = model, cache_dir
        self.digest = encoder_digest(model.encoder)
        self._backbone: BackboneRunner | None = None

    def features(self, name: str, paths: list[Path]) -> np.ndarray:
        config = self.model.config
        key = {
            "files": video_files_key(paths),
            "encoder": self.digest,
            "frames": config.num_frames,
            "sampler": config.frame_spec.sampler_key,
        }

        def compute() -> np.ndarray:
            if self._backbone is None:
                self._backbone = BackboneRunner(self.model.encoder, config.frame_size)
            loader = sampled_frames_loader(config.frame_spec)
            return extract_features(paths, self._backbone, loader, description=name).astype(np.float16)

        sampler = config.frame_spec.sampler
        suffix = "" if sampler == "exact" else f"_{sampler}"  # each sampler's features keep their own file
        return cached_array(self.cache_dir / f"{name}{suffix}_features.npy", key, compute)


@dataclass
class EvaluationReport:
    code_bits: int
    mask_ratio: float
    retrieval: dict[str, RetrievalMetrics]
    near_duplicates: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"retrieval ({self.code_bits} bits, mask r={self.mask_ratio:g}; relevant = same L2 class)"]
        cutoffs = sorted(next(iter(self.retrieval.values())).precision_at)
        lines.append(f"{'method':<10}{'mAP':>8}" + "".join(f"{'P@' + str(n):>8}" for n in cutoffs))
        for method, metrics in self.retrieval.items():
            row = "".join(f"{metrics.precision_at[n]:>8.3f}" for n in cutoffs)
            lines.append(f"{method:<10}{metrics.mean_average_precision:>8.3f}{row}")
        if self.near_duplicates:
            lines.append("near-duplicate recall@1 / recall@10 per transform")
            transforms = list(next(iter(self.near_duplicates.values())))
            lines.append(f"{'method':<10}" + "".join(f"{name:>16}" for name in transforms))
            for method, per_transform in self.near_duplicates.items():
                cells = "".join(f"{per_transform[name][1]:>10.3f}/{per_transform[name][10]:.2f}" for name in transforms)
                lines.append(f"{method:<10}{cells}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "code_bits": self.code_bits,
            "mask_ratio": self.mask_ratio,
            "map": {m: r.mean_average_precision for m, r in self.retrieval.items()},
            "precision_at": {m: r.precision_at for m, r in self.retrieval.items()},
            "near_duplicate_recall": self.near_duplicates,
        }

    def plot(self, folder: Path) -> list[Path]:
        """``precision_at_n.png`` and ``precision_recall.png`` (matplotlib, no display needed)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        folder.mkdir(parents=True, exist_ok=True)
        written = []
        figure, axis = plt.subplots(figsize=(6, 4))
        for method, metrics in self.retrieval.items():
            cutoffs = sorted(metrics.precision_at)
            axis.plot(cutoffs, [metrics.precision_at[n] for n in cutoffs], marker="o", label=method)
        axis.set(xscale="log", xlabel="N", ylabel="precision@N", title=f"P@N, {self.code_bits} bits")
        axis.legend()
        written.append(folder / "precision_at_n.png")
        figure.savefig(written[-1], dpi=100, bbox_inches="tight")
        figure, axis = plt.subplots(figsize=(6, 4))
        for method, metrics in self.retrieval.items():
            axis.plot(metrics.pr_recall, metrics.pr_precision, label=method)
        axis.set(xlabel="recall", ylabel="precision", title=f"PR by Hamming radius, {self.code_bits} bits")
        axis.legend()
        written.append(folder / "precision_recall.png")
        figure.savefig(written[-1], dpi=100, bbox_inches="tight")
        plt.close("all")
        return written


def simhash_distances(model: DeepHashNet, queries: np.ndarray, database: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hamming distances of the SimHash baseline (hyperplane draw ``seed``), on the global-average part of
    the encoder's features, centred on the database."""
    queries, database = (model.encoder.global_part(np.asarray(f, dtype=np.float32)) for f in (queries, database))
    simhash = SimHash(database, model.config.code_bits, seed=seed)
    return distance_matrix(simhash.codes(queries), simhash.codes(database))


def retrieval_report(
    model: DeepHashNet,
    mask: CategoryMask,
    query: tuple[np.ndarray, np.ndarray],
    database: tuple[np.ndarray, np.ndarray],
) -> dict[str, RetrievalMetrics]:
    """Our codes plain and masked, and SimHash, on (features, labels) of query and database."""
    bits = model.config.code_bits
    query_codes, database_codes = model_codes(model, query[0]), model_codes(model, database[0])
    masks = mask.for_queries(query_codes.l1, query_codes.l2)
    return {
        "hamming": retrieval_metrics(
            distance_matrix(query_codes.codes, database_codes.codes), query[1], database[1], bits
        ),
        "masked": retrieval_metrics(
            distance_matrix(query_codes.codes, database_codes.codes, masks), query[1], database[1], bits
        ),
        "simhash": retrieval_metrics(simhash_distances(model, query[0], database[0]), query[1], database[1], bits),
    }


def near_duplicate_recall(
    model: DeepHashNet,
    mask: CategoryMask,
    variant_features: np.ndarray,
    variant_targets: np.ndarray,
    variant_transforms: list[str],
    database_features: np.ndarray,
    other_distances: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, dict[int, float]]]:
    """Recall@1/@10 of each variant finding its original (row ``target`` of the database): the model's codes
    plain and masked, SimHash, and any ``other_distances`` (name → ``[variants, database]``) given."""
    queries, database = model_codes(model, variant_features), model_codes(model, database_features)
    distances = {
        "hamming": distance_matrix(queries.codes, database.codes),
        "masked": distance_matrix(queries.codes, database.codes, mask.for_queries(queries.l1, queries.l2)),
        "simhash": simhash_distances(model, variant_features, database_features),
        **(other_distances or {}),
    }
    transforms = list(dict.fromkeys(variant_transforms))
    names = np.array(variant_transforms)
    report: dict[str, dict[str, dict[int, float]]] = {}
    for method, matrix in distances.items():
        report[method] = {name: recall_at(matrix[names == name], variant_targets[names == name]) for name in transforms}
        report[method]["all"] = recall_at(matrix, variant_targets)
    return report


def evaluate_dataset(model: DeepHashNet, mask: CategoryMask, dataset_root: Path, cache_dir: Path) -> EvaluationReport:
    """Query vs database retrieval, and variants vs (database + query originals) near-duplicate search."""
    taxonomy = model.config.taxonomy
    store = FeatureStore(model, cache_dir)
    query: Split = read_split(dataset_root, "query", taxonomy)
    database: Split = read_split(dataset_root, "database", taxonomy)
    query_features = store.features("query", query.paths)
    database_features = store.features("database", database.paths)
    retrieval = retrieval_report(model, mask, (query_features, query.l2), (database_features, database.l2))
    report = EvaluationReport(model.config.code_bits, mask.ratio, retrieval)
    if (dataset_root / "variants.csv").is_file():
        variants = read_variants(dataset_root)
        variant_features = store.features("variants", variants.paths)
        pool = np.concatenate([np.asarray(database_features), np.asarray(query_features)])
        targets = len(database) + variants.source
        report.near_duplicates = near_duplicate_recall(model, mask, variant_features, targets, variants.transform, pool)
    return report


def tune_mask_ratio(
    model: DeepHashNet,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    ratios: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
) -> tuple[float, dict[float, float]]:
    """The ratio r with the best leave-one-out mAP on held-out videos (ties: the larger r)."""
    codes = model_codes(model, val_features)
    known = val_labels >= 0
    codes = CodeSet(codes.codes[known], codes.l1[known], codes.l2[known])
    labels = val_labels[known]
    scores = {}
    for ratio in ratios:
        mask = CategoryMask.from_head(model.head, ratio)
        distances = distance_matrix(codes.codes, codes.codes, mask.for_queries(codes.l1, codes.l2))
        scores[ratio] = _leave_one_out_map(distances, labels, model.config.code_bits)
    best = max(sorted(scores, reverse=True), key=lambda ratio: scores[ratio])
    return best, scores


def _leave_one_out_map(distances: np.ndarray, labels: np.ndarray, code_bits: int) -> float:
    """mAP where each query's own row is pushed past every other item."""
    distances = distances.astype(np.int64)
    np.fill_diagonal(distances, code_bits + 1)
    count = len(labels)
    order = np.argsort(distances, axis=1, kind="stable")[:, : count - 1]
    relevant = (labels[:, None] == labels[None, :])[np.arange(count)[:, None], order]
    return mean_average_precision(relevant)


def tune_and_save_mask(model_dir: Path, dataset_root: Path, cache_dir: Path) -> CategoryMask:
    """Choose r on the val split, write ``mask.npz`` and record the scores in metadata."""
    model = load_model(model_dir)
    val = read_split(dataset_root, "val", model.config.taxonomy)
    features = FeatureStore(model, cache_dir).features("val", val.paths)
    ratio, scores = tune_mask_ratio(model, features, val.l2)
    mask = CategoryMask.from_head(model.head, ratio)
    mask.save(model_dir / MASK_FILE)
    update_metadata(model_dir, {"mask": {"ratio": ratio, "val_map_by_ratio": {str(r): s for r, s in scores.items()}}})
    return mask
