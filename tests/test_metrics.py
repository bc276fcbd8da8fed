"""Retrieval metrics against a brute-force reference written from the definitions."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.codes import pack_bits
from deephash.metrics import distance_matrix, recall_at, retrieval_metrics


def reference_map(distances: np.ndarray, q_labels: np.ndarray, d_labels: np.ndarray) -> float:
    scores = []
    for row in range(len(q_labels)):
        order = sorted(range(len(d_labels)), key=lambda j: (distances[row, j], j))
        hits, precision_sum = 0, 0.0
        for position, j in enumerate(order, start=1):
            if d_labels[j] == q_labels[row]:
                hits += 1
                precision_sum += hits / position
        if hits:
            scores.append(precision_sum / hits)
    return float(np.mean(scores))


def test_map_and_precision_match_brute_force():
    rng = np.random.default_rng(3)
    bits = 32
    queries, database = rng.integers(0, 2, (20, bits)), rng.integers(0, 2, (80, bits))
    q_labels, d_labels = rng.integers(0, 4, 20), rng.integers(0, 4, 80)
    distances = distance_matrix(pack_bits(queries), pack_bits(database))
    assert np.array_equal(distances, (queries[:, None, :] != database[None, :, :]).sum(axis=2))
    metrics = retrieval_metrics(distances, q_labels, d_labels, bits, cutoffs=(1, 10))
    assert metrics.mean_average_precision == pytest.approx(reference_map(distances, q_labels, d_labels))
    for n in (1, 10):
        expected = np.mean(
            [
                np.mean([d_labels[j] == q_labels[r] for j in sorted(range(80), key=lambda j: (distances[r, j], j))[:n]])
                for r in range(20)
            ]
        )
        assert metrics.precision_at[n] == pytest.approx(expected)
    # PR over radii: at the largest radius everything is retrieved, so recall is 1
    assert metrics.pr_recall[-1] == pytest.approx(1.0)
    assert np.all(np.diff(metrics.pr_recall) >= 0)


def test_masked_distance_counts_only_masked_bits():
    a = pack_bits(np.array([[1] * 8 + [0] * 8]))
    b = pack_bits(np.array([[0] * 16]))
    mask = pack_bits(np.array([[1, 1, 0, 0, 0, 0, 0, 0] + [1] * 8]))
    assert distance_matrix(a, b)[0, 0] == 8
    assert distance_matrix(a, b, mask)[0, 0] == 2


def test_perfect_codes_give_map_one_and_recall_breaks_ties_by_row():
    codes = pack_bits(np.repeat(np.eye(4, 8, dtype=int), 2, axis=0))
    labels = np.repeat(np.arange(4), 2)
    distances = distance_matrix(codes, codes)
    assert retrieval_metrics(distances, labels, labels, 8).mean_average_precision == 1.0
    # rows 0 and 1 are identical: query 1 ties with row 0, so its target is first half of the time
    assert recall_at(distances[[1]], np.array([1]), (1, 2)) == {1: 0.5, 2: 1.0}
    # a strictly nearer row pushes the target to rank 2
    assert recall_at(np.array([[0, 1, 3]]), np.array([1]), (1, 2)) == {1: 0.0, 2: 1.0}
