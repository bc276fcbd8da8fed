"""Duplicate decisions at scale: distance counts against a brute-force reference, thresholds, distractor codes."""

from __future__ import annotations

import numpy as np
import torch

from deephash.codes import pack_bits
from deephash.distractors import (
    DistanceCounts,
    distractor_codes,
    distractor_still,
    recommend_threshold,
    scale_report,
    threshold_figures,
)
from deephash.evaluation import model_codes
from deephash.metrics import distance_matrix, recall_at
from deephash.model.config import ModelConfig, Taxonomy
from deephash.model.network import DeepHashNet


def codes(rows: list[list[int]]) -> np.ndarray:
    return pack_bits(np.array(rows, dtype=bool))


def test_counts_and_fair_recall_match_the_full_distance_matrix():
    rng = np.random.default_rng(0)
    database = pack_bits(rng.random((300, 64)) < 0.5)
    queries = database[:40].copy()
    queries[:, :2] ^= rng.integers(0, 256, (40, 2), dtype=np.uint8)  # up to 16 flipped bits
    targets = np.arange(40)
    database[100:110] = database[5]  # rows tied with query 5's original
    counts = DistanceCounts.measure(queries, targets, database)
    matrix = distance_matrix(queries, database)
    assert np.array_equal(counts.to_target, matrix[np.arange(40), targets])
    for row in range(40):
        expected = np.bincount(np.delete(matrix[row], targets[row]), minlength=65)
        assert np.array_equal(counts.others[row], expected)
    assert counts.recall_at_1() == recall_at(matrix, targets)[1] < 1.0


def test_threshold_figures_count_true_and_false_duplicates():
    database = codes([[0] * 8, [1] * 8, [1, 1, 0, 0, 0, 0, 0, 0]])
    queries = codes([[1, 0, 0, 0, 0, 0, 0, 0], [1] * 7 + [0]])  # 1 bit from rows 0 and 1
    counts = DistanceCounts.measure(queries, np.array([0, 1]), database)
    figures = threshold_figures(counts, DistanceCounts.measure(queries, np.array([0, 1]), database[:2]))
    assert [figure.threshold for figure in figures] == list(range(9))
    assert (figures[0].recall, figures[0].precision, figures[0].false_per_query) == (0.0, 1.0, 0.0)
    # at 1 bit: both originals, and row 2 for the first query (1 bit from it)
    assert (figures[1].recall, figures[1].precision, figures[1].false_per_query) == (1.0, 2 / 3, 0.5)
    assert figures[4].precision == 2 / 3 and figures[5].precision == 0.5  # row 2 is 5 bits from the second
    assert figures[4].precision_against_distractors == 2 / 3  # row 2 is unrelated to both queries
    assert recommend_threshold(figures, target=0.6).threshold == 4  # the widest as precise as asked
    assert recommend_threshold(figures, target=0.99).threshold == 0  # none is that precise and finds anything
    look_alike = threshold_figures(counts, counts)  # row 2 counted among the originals: a look-alike
    assert look_alike[4].precision == 2 / 3 and look_alike[4].precision_against_distractors == 1.0
    assert recommend_threshold(look_alike).threshold == 8  # with no distractor, every threshold is precise
    assert figures[-1].false_per_query == 2.0
    assert (figures[1].distractors_per_query, figures[5].distractors_per_query) == (0.5, 1.0)  # row 2 only


def test_scale_report_uses_the_given_threshold_or_recommends_one():
    rng = np.random.default_rng(1)
    originals = pack_bits(rng.random((20, 128)) < 0.5)
    queries = originals.copy()
    queries[:, 0] ^= 0b111  # 3 bits flipped
    distractors = pack_bits(rng.random((500, 128)) < 0.5)
    report, figures = scale_report(queries, np.arange(20), originals, distractors, threshold=None)
    assert report.recall_at_1 == report.recall_at_1_without_distractors == 1.0
    assert report.at_threshold.recall == 1.0 and report.at_threshold.precision >= 0.99
    assert report.at_threshold.threshold >= 3 and report.distractors == 500
    fixed, _ = scale_report(queries, np.arange(20), originals, distractors, threshold=2)
    assert fixed.at_threshold == figures[2] and fixed.at_threshold.recall == 0.0


def test_distractor_codes_are_the_models_codes_of_still_videos_and_are_cached(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(Taxonomy(("a", "b"), ("c", "d"), (0, 1)), "efficientnet_lite0", frame_size=64)
    model = DeepHashNet(config).eval()
    first = distractor_codes(model, 5, tmp_path, chunk=2)
    stills = np.stack([distractor_still(index, 64) for index in range(5)])
    with torch.no_grad():
        features = model.encoder(torch.from_numpy(np.repeat(stills[:, None], config.num_frames, axis=1))).numpy()
    assert first.shape == (5, 16) and np.array_equal(first, model_codes(model, features).codes)
    assert np.array_equal(distractor_codes(model, 5, tmp_path), first)
    assert len(list(tmp_path.glob("distractor_codes_5_*.npy"))) == 1
