"""Retrieval metrics by Hamming ranking. Pure functions of codes and labels; results are dataclasses.

Ranking: database items sorted by (distance, row) — ties broken by row so results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deephash.codes import hamming


def distance_matrix(queries: np.ndarray, database: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """``int32 [Q, N]`` of popcount((q XOR d) AND mask_q); ``masks`` is ``[Q, L/8]`` or None."""
    out = np.empty((len(queries), len(database)), dtype=np.int32)
    for row, query in enumerate(queries):
        out[row] = hamming(database, query, None if masks is None else masks[row])
    return out


def rank(distances: np.ndarray) -> np.ndarray:
    """Database rows of each query in ranking order (stable: equal distances keep row order)."""
    return np.argsort(distances, axis=1, kind="stable")


@dataclass(frozen=True)
class RetrievalMetrics:
    """mAP@all, precision@N and the precision–recall curve over Hamming radii."""

    mean_average_precision: float
    precision_at: dict[int, float]
    pr_radius: np.ndarray  # radii 0..L
    pr_precision: np.ndarray
    pr_recall: np.ndarray


def mean_average_precision(relevant_ranked: np.ndarray) -> float:
    """mAP = mean over queries of ``(1/R) * sum_k P@k * rel_k`` (queries with R = 0 are skipped)."""
    hits = np.cumsum(relevant_ranked, axis=1)
    positions = np.arange(1, relevant_ranked.shape[1] + 1)
    totals = relevant_ranked.sum(axis=1)
    precision_sum = (hits / positions * relevant_ranked).sum(axis=1)
    valid = totals > 0
    return float((precision_sum[valid] / totals[valid]).mean()) if valid.any() else 0.0


def retrieval_metrics(
    distances: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    code_bits: int,
    cutoffs: tuple[int, ...] = (1, 5, 10, 20, 50, 100),
) -> RetrievalMetrics:
    """Relevant = same label. PR: precision/recall of the items within each Hamming radius."""
    order = rank(distances)
    relevant = query_labels[:, None] == database_labels[None, :]
    relevant_ranked = np.take_along_axis(relevant, order, axis=1)
    precision_at = {n: float(relevant_ranked[:, :n].mean()) for n in cutoffs if n <= distances.shape[1]}
    radii = np.arange(code_bits + 1)
    precisions, recalls = [], []
    total_relevant = np.maximum(relevant.sum(axis=1), 1)
    for radius in radii:
        within = distances <= radius
        retrieved = within.sum(axis=1)
        hit = (within & relevant).sum(axis=1)
        precisions.append(float(np.mean(np.where(retrieved > 0, hit / np.maximum(retrieved, 1), 0.0))))
        recalls.append(float(np.mean(hit / total_relevant)))
    return RetrievalMetrics(
        mean_average_precision=mean_average_precision(relevant_ranked),
        precision_at=precision_at,
        pr_radius=radii,
        pr_precision=np.array(precisions),
        pr_recall=np.array(recalls),
    )


def recall_at(distances: np.ndarray, targets: np.ndarray, cutoffs: tuple[int, ...] = (1, 10)) -> dict[int, float]:
    """Share of queries whose target ranks within the first N, ties counted fairly.

    With ``less`` items strictly closer than the target and ``tied`` items (the target included) at its
    distance, a random order among the tied gives ``P(rank <= N) = clip((N - less) / tied, 0, 1)``. Codes
    with many exact ties are neither favoured nor punished by where the target happens to sit.
    """
    target_distance = distances[np.arange(len(targets)), targets][:, None]
    less = (distances < target_distance).sum(axis=1)
    tied = (distances == target_distance).sum(axis=1)
    return {n: float(np.clip((n - less) / tied, 0.0, 1.0).mean()) for n in cutoffs}
