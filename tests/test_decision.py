"""The duplicate decision: scores normalised against a background, a threshold chosen for a precision, and the
two-stage answer it judges."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.copy_figures import two_stage_top
from deephash.decision import BETAS, CopyDecision, decide, fit_decision, threshold_for
from deephash.verification import normalise


def test_the_threshold_is_the_lowest_that_keeps_the_precision_and_declares_nothing_false_beyond_it():
    # 10 queries with originals (best score on the right row), 5 without (their best is a stranger)
    scores = np.full((15, 12), 0.1)
    scores[np.arange(10), np.arange(10)] = np.linspace(0.9, 0.45, 10)  # copies, from clear to faint
    scores[10:, 11] = [0.7, 0.5, 0.4, 0.3, 0.2]  # strangers that look alike
    targets = np.array([*range(10), -1, -1, -1, -1, -1])
    chosen = threshold_for(scores, targets, target=0.99)
    assert chosen.precision >= 0.99 and chosen.threshold > 0.7  # 0.7 would declare a stranger
    assert chosen.found == pytest.approx(0.4)  # 0.9, 0.85, 0.8, 0.75 (0.7 < the stranger at 0.7 is tied out)
    looser = decide(scores, targets, 0.45)
    assert looser.found == 1.0 and looser.precision == pytest.approx(10 / 12)


def test_scores_are_lowered_by_the_querys_closeness_to_the_background_and_saved_as_fitted(tmp_path):
    rng = np.random.default_rng(0)
    background = normalise(rng.standard_normal((50, 8)))
    generic, distinct = background[0] + 0.1 * background[1], -background.mean(axis=0)
    decision = CopyDecision(background, beta=1.0, neighbours=3, threshold=0.2)
    offsets = decision.offsets(normalise(np.stack([generic, distinct])))
    assert offsets[0] > offsets[1]  # a query like the background is judged more strictly
    assert np.allclose(decision.scores(np.array([[0.9], [0.9]]), normalise(np.stack([generic, distinct])))[:, 0],
                       0.9 - offsets)  # fmt: skip
    decision.save(tmp_path)
    loaded = CopyDecision.load(tmp_path)
    assert (loaded.beta, loaded.neighbours, loaded.threshold) == (1.0, 3, pytest.approx(0.2))
    assert np.allclose(loaded.background, background, atol=1e-3)


def test_fitting_keeps_the_beta_that_finds_most_copies_at_the_precision():
    rng = np.random.default_rng(1)
    originals = normalise(rng.standard_normal((40, 16)))
    queries = normalise(originals + 0.25 * rng.standard_normal((40, 16)))
    pool = np.concatenate([originals[::2], normalise(rng.standard_normal((200, 16)))])
    targets = np.where(np.arange(40) % 2 == 0, np.arange(40) // 2, -1)
    background = normalise(rng.standard_normal((100, 16)))
    decision, figures = fit_decision(queries, pool, targets, background)
    assert figures.precision >= 0.99 and figures.found > 0.3
    each = [threshold_for(CopyDecision(background, beta, 10, 0).scores(queries @ pool.T, queries), targets).found
            for beta in BETAS]  # fmt: skip
    assert figures.found == max(each) and decision.beta == BETAS[each.index(max(each))]
    again = decide(decision.scores(queries @ pool.T, queries), targets, decision.threshold)
    assert again == figures


def test_the_two_stage_answer_is_the_most_similar_of_the_hamming_candidates_only():
    hamming = np.array([[1, 2, 3, 9]])
    similarity = np.array([[0.1, 0.5, 0.3, 0.99]])  # the most similar row is not a candidate at 3
    assert two_stage_top(hamming, similarity, candidates=3)[0] == 1
    assert two_stage_top(hamming, similarity, candidates=4)[0] == 3
