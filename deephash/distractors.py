"""Duplicate decisions at scale: recall@1 and the precision of "within T bits" among many unrelated videos.

A library holds far more unrelated videos than copies of any one of them, so a Hamming threshold that looks
clean among a few hundred videos can flood an operator with false duplicates among millions. The distractors
here are generated stills (procedural imagery of a stream of their own, never real footage and never a
training stream), hashed by the model from one frame: a still video's sampled frames are all that picture,
so these are the codes the model gives such uploads.

The threshold a model recommends is chosen on generated footage (the synthetic dataset's near-duplicate
variants among its videos and the distractors) and only then measured on real footage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from deephash.codes import hamming
from deephash.data.dataset import read_split, read_variants
from deephash.data.procedural import procedural_image
from deephash.evaluation import FeatureStore, model_codes
from deephash.features import BackboneRunner, cached_array, encoder_digest
from deephash.model.artifacts import load_model
from deephash.model.network import DeepHashNet
from deephash.real_footage import build_real_footage

DISTRACTOR_SEED = 104_729  # the distractors' own stream of generated imagery
PRECISION_TARGET = 0.99  # a recommended threshold finds at most one unrelated video per hundred true copies


def distractor_still(index: int, size: int, seed: int = DISTRACTOR_SEED) -> np.ndarray:
    """uint8 ``[3, size, size]``: generated still number ``index``."""
    return np.ascontiguousarray(procedural_image(np.random.default_rng((seed, index)), size, size).transpose(2, 0, 1))


def _stills(count: int, size: int, seed: int, chunk: int, pool: ThreadPoolExecutor) -> Iterator[np.ndarray]:
    """Chunks of stills, the next chunk drawn on ``pool`` while the caller hashes the current one."""
    pending: list[Future] | None = None
    for start in range(0, count, chunk):
        indices = range(start, min(count, start + chunk))
        futures = [pool.submit(distractor_still, index, size, seed) for index in indices]
        if pending is not None:
            yield np.stack([future.result() for future in pending])
        pending = futures
    if pending:
        yield np.stack([future.result() for future in pending])


def distractor_codes(
    model: DeepHashNet, count: int, cache_dir: Path, seed: int = DISTRACTOR_SEED, chunk: int = 128
) -> np.ndarray:
    """Packed codes ``[count, L/8]`` of ``count`` generated stills, cached per model (weights included)."""
    key = {"count": count, "seed": seed, "size": model.config.frame_size, "model": encoder_digest(model)}

    def compute() -> np.ndarray:
        empty = np.zeros((0, model.config.code_bits // 8), np.uint8)
        return _of_stills(model, count, seed, chunk, "distractor codes", lambda f: model_codes(model, f).codes, empty)

    return np.asarray(cached_array(cache_dir / f"distractor_codes_{count}_seed{seed}.npy", key, compute))


def distractor_embeddings(
    model: DeepHashNet, count: int, cache_dir: Path, seed: int = DISTRACTOR_SEED, chunk: int = 128
) -> np.ndarray:
    """The verification descriptors ``[count, V]`` of the same generated stills, cached per model."""
    key = {"count": count, "seed": seed, "size": model.config.frame_size, "model": encoder_digest(model)}

    def descriptors(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.verification(torch.from_numpy(features.astype(np.float32))).numpy()

    def compute() -> np.ndarray:
        empty = np.zeros((0, model.config.verify_dims), np.float32)
        return _of_stills(model, count, seed, chunk, "distractor descriptors", descriptors, empty)

    path = cache_dir / f"distractor_verification_{count}_seed{seed}.npy"
    return np.asarray(cached_array(path, key | {"output": "verification"}, compute))


def _of_stills(
    model: DeepHashNet, count: int, seed: int, chunk: int, what: str, output: Callable, empty: np.ndarray
) -> np.ndarray:
    """``output`` of the per-frame features of ``count`` generated stills (each a still video), chunk by chunk."""
    size = model.config.frame_size
    backbone, rows = BackboneRunner(model.encoder, size), []
    with ThreadPoolExecutor(2) as pool, tqdm(total=count, desc=what, unit="video") as progress:
        for stills in _stills(count, size, seed, chunk, pool):
            rows.append(output(np.repeat(backbone(stills[:, None]), model.config.num_frames, axis=1)))
            progress.update(len(stills))
    return np.concatenate(rows) if rows else empty


@dataclass(frozen=True)
class DistanceCounts:
    """Per query: the Hamming distance to its own original, and how many other rows lie at each distance."""

    to_target: np.ndarray  # int [Q]
    others: np.ndarray  # int [Q, L + 1]

    @classmethod
    def measure(cls, queries: np.ndarray, targets: np.ndarray, database: np.ndarray) -> DistanceCounts:
        bits = queries.shape[1] * 8
        to_target = np.empty(len(queries), dtype=np.int64)
        others = np.empty((len(queries), bits + 1), dtype=np.int64)
        for row, query in enumerate(queries):
            distances = hamming(database, query)
            to_target[row] = distances[targets[row]]
            others[row] = np.bincount(distances, minlength=bits + 1)
            others[row, to_target[row]] -= 1
        return cls(to_target, others)

    def recall_at_1(self) -> float:
        """Ties counted fairly, as :func:`deephash.metrics.recall_at`."""
        rows = np.arange(len(self.to_target))
        closer = np.cumsum(self.others, axis=1)[rows, self.to_target] - self.others[rows, self.to_target]
        tied = self.others[rows, self.to_target] + 1
        return float(np.clip((1 - closer) / tied, 0.0, 1.0).mean())


@dataclass(frozen=True)
class ThresholdFigures:
    """A duplicate decision "distance <= threshold" over every query."""

    threshold: int
    recall: float  # share of queries whose original lies within the threshold
    precision: float  # share of the rows within it that are the query's original
    false_per_query: float  # other rows within the threshold, per query
    distractors_per_query: float  # of those, how many are distractors (the rest: the footage's look-alikes)

    @property
    def precision_against_distractors(self) -> float:
        """Precision counting only unrelated videos as false: look-alikes (other clips of one source, other
        videos of one synthetic class) are near-duplicates of content, not of a re-upload."""
        found = self.recall + self.distractors_per_query
        return self.recall / found if found else 1.0


def threshold_figures(counts: DistanceCounts, without_distractors: DistanceCounts) -> list[ThresholdFigures]:
    """The decision's figures at every threshold from 0 to the code length; ``without_distractors`` are the
    same queries' counts among the originals alone."""
    false = np.cumsum(counts.others.sum(axis=0))
    stray = false - np.cumsum(without_distractors.others.sum(axis=0))
    queries = len(counts.to_target)
    figures = []
    for threshold in range(counts.others.shape[1]):
        true = int((counts.to_target <= threshold).sum())
        found = true + int(false[threshold])
        precision = true / found if found else 1.0
        false_rate, stray_rate = int(false[threshold]) / queries, int(stray[threshold]) / queries
        figures.append(ThresholdFigures(threshold, true / queries, precision, false_rate, stray_rate))
    return figures


def recommend_threshold(figures: list[ThresholdFigures], target: float = PRECISION_TARGET) -> ThresholdFigures:
    """The widest threshold whose duplicates are at least ``target`` precise against unrelated videos (0 bits
    when none is)."""
    good = [figure for figure in figures if figure.precision_against_distractors >= target and figure.recall > 0]
    return max(good, key=lambda figure: figure.threshold) if good else figures[0]


@dataclass(frozen=True)
class ScaleReport:
    """One footage's queries among its originals plus ``distractors`` generated stills."""

    distractors: int
    recall_at_1: float
    recall_at_1_without_distractors: float
    at_threshold: ThresholdFigures

    def to_json(self) -> dict:
        return {**asdict(self), "at_threshold": asdict(self.at_threshold)}


def scale_report(
    queries: np.ndarray, targets: np.ndarray, originals: np.ndarray, distractors: np.ndarray, threshold: int | None
) -> tuple[ScaleReport, list[ThresholdFigures]]:
    """Recall@1 with and without the distractors, and the duplicate decision at ``threshold`` (None: the one
    this footage itself recommends)."""
    alone = DistanceCounts.measure(queries, targets, originals)
    counts = DistanceCounts.measure(queries, targets, np.concatenate([originals, distractors]))
    figures = threshold_figures(counts, alone)
    chosen = recommend_threshold(figures) if threshold is None else figures[threshold]
    return ScaleReport(len(distractors), counts.recall_at_1(), alone.recall_at_1(), chosen), figures


def measure_at_scale(model_dir: Path, data_dir: Path, count: int) -> dict:
    """The duplicate decision of a model folder among ``count`` distractors: the threshold recommended on the
    synthetic dataset's near-duplicates (generated footage), then recall@1 and that threshold's figures on
    real footage. Videos and features are reused from ``data_dir`` as by ``deephash evaluate``."""
    model = load_model(model_dir)
    cache_dir, dataset_root = data_dir / "cache", data_dir / "synthetic"
    store = FeatureStore(model, cache_dir)

    def codes(name: str, paths: list[Path]) -> np.ndarray:
        return model_codes(model, store.features(name, paths)).codes

    database, query = (read_split(dataset_root, split, model.config.taxonomy) for split in ("database", "query"))
    pool = np.concatenate([codes("database", database.paths), codes("query", query.paths)])
    variants = read_variants(dataset_root)
    distractors = distractor_codes(model, count, cache_dir)
    generated, generated_by_threshold = scale_report(
        codes("variants", variants.paths), len(database) + variants.source, pool, distractors, threshold=None
    )
    footage = build_real_footage(data_dir / "real")
    real, by_threshold = scale_report(
        codes("real_variants", footage.variants),
        footage.targets,
        np.concatenate([codes("real_originals", footage.originals), pool]),
        distractors,
        threshold=generated.at_threshold.threshold,
    )
    shown = model.config.code_bits // 4 + 1  # thresholds worth an operator's look: up to a quarter of the bits
    return {
        "precision_target": PRECISION_TARGET,
        "recommended_threshold": generated.at_threshold.threshold,
        "generated": generated.to_json(),
        "real": real.to_json(),
        "generated_by_threshold": [asdict(figure) for figure in generated_by_threshold[:shown]],
        "real_by_threshold": [asdict(figure) for figure in by_threshold[:shown]],
    }


def scale_table(figures: dict) -> str:
    """The report of :func:`measure_at_scale` as printed by `deephash evaluate` and the build."""
    lines = [
        f"duplicate decision among {figures['real']['distractors']:,} generated distractors: recommended threshold "
        f"{figures['recommended_threshold']} bits (precision >= {figures['precision_target']:.2f} against the "
        "distractors on generated footage; look-alikes are counted apart)"
    ]
    lines.append(
        f"{'footage':<11}{'recall@1':>10}{'(alone)':>9}{'recall@T':>10}{'precision':>11}{'false/query':>13}"
        f"{'of which distractors':>22}"
    )
    for name in ("generated", "real"):
        report = figures[name]
        at = report["at_threshold"]
        lines.append(
            f"{name:<11}{report['recall_at_1']:>10.3f}{report['recall_at_1_without_distractors']:>9.3f}"
            f"{at['recall']:>10.3f}{at['precision']:>11.3f}{at['false_per_query']:>13.3f}"
            f"{at['distractors_per_query']:>22.3f}"
        )
    return "\n".join(lines)
