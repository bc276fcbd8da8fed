"""The duplicate decision: is a candidate a copy of the query, at a precision an operator can trust.

A raw similarity is not comparable across queries: a busy, generic picture is close to many videos, a distinct
one to few. The score is therefore normalised against a background of generated videos that ships with the model
(never the library itself, which would make a decision depend on what else was uploaded), as the VSC 2022 and
SSCD descriptor baselines do: ``score = similarity - beta * mean(the query's `neighbours` highest similarities to
the background)``. A candidate is a copy when its score reaches ``threshold``, chosen on generated footage for a
stated precision (:func:`fit_decision`); real footage only measures it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deephash.errors import ModelError

DECISION_FILE = "decision.npz"  # in a model folder, beside its mask
PRECISION_TARGET = 0.99
BETAS = (0.0, 0.5, 1.0)  # how much of the background similarity is taken off, chosen on generated footage
NEIGHBOURS = 10


@dataclass(frozen=True)
class CopyDecision:
    background: np.ndarray  # float32 [B, V], unit rows: embeddings of generated videos
    beta: float
    neighbours: int
    threshold: float

    def offsets(self, queries: np.ndarray) -> np.ndarray:
        """``[Q]``: what each query's similarities are lowered by (its closeness to the background)."""
        similar = np.atleast_2d(np.asarray(queries, dtype=np.float32)) @ self.background.T
        top = -np.partition(-similar, self.neighbours - 1, axis=1)[:, : self.neighbours]
        return self.beta * top.mean(axis=1)

    def scores(self, similarities: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Calibrated scores of ``similarities`` ``[Q, N]`` (or ``[N]`` for one query)."""
        similarities = np.asarray(similarities, dtype=np.float32)
        offsets = self.offsets(queries)
        return similarities - (offsets[:, None] if similarities.ndim == 2 else offsets[0])

    def save(self, folder: Path) -> None:
        path, background = Path(folder) / DECISION_FILE, self.background.astype(np.float16)
        np.savez(path, background=background, beta=self.beta, neighbours=self.neighbours, threshold=self.threshold)

    @classmethod
    def load(cls, folder: Path) -> CopyDecision:
        path = Path(folder) / DECISION_FILE
        if not path.is_file():
            raise ModelError(f"{folder} has no duplicate decision ({DECISION_FILE}): a model without one")
        with np.load(path) as data:
            background = data["background"].astype(np.float32)
            return cls(background, float(data["beta"]), int(data["neighbours"]), float(data["threshold"]))


@dataclass(frozen=True)
class DecisionFigures:
    """A decision "the best candidate is a copy when its score reaches ``threshold``" over a set of queries."""

    threshold: float
    found: float  # share of the queries that have an original whose original is declared a copy
    precision: float  # share of the declared copies that are the query's original

    def to_json(self) -> dict:
        return asdict(self)


def decide(scores: np.ndarray, targets: np.ndarray, threshold: float) -> DecisionFigures:
    """``scores`` ``[Q, N]`` of every query against a pool; ``targets``: each query's original in the pool, or -1
    for an upload that copies nothing there (any copy declared for it is false)."""
    best = scores.argmax(axis=1)
    return decide_answers(best, scores[np.arange(len(best)), best], targets, threshold)


def decide_answers(answers: np.ndarray, scores: np.ndarray, targets: np.ndarray, threshold: float) -> DecisionFigures:
    """The decision on each query's answer (a pool row) and its score, as a search gives them."""
    declared = scores >= threshold
    right = declared & (answers == targets)
    has_original = targets >= 0
    found = float(right[has_original].mean()) if has_original.any() else 0.0
    precision = float(right.sum() / declared.sum()) if declared.any() else 1.0
    return DecisionFigures(float(threshold), found, precision)


def threshold_for(scores: np.ndarray, targets: np.ndarray, target: float = PRECISION_TARGET) -> DecisionFigures:
    """The lowest threshold (the most copies found) whose decisions are at least ``target`` precise."""
    best = np.sort(scores.max(axis=1))[::-1]
    chosen = decide(scores, targets, float(best[0]) + 1e-6)  # nothing declared: precise, finds nothing
    for threshold in best:
        figures = decide(scores, targets, float(threshold))
        if figures.precision >= target:
            chosen = figures if figures.found >= chosen.found else chosen
    return chosen


def fit_decision(
    queries: np.ndarray, pool: np.ndarray, targets: np.ndarray, background: np.ndarray, target: float = PRECISION_TARGET
) -> tuple[CopyDecision, DecisionFigures]:
    """The decision chosen on generated footage: ``queries`` ``[Q, V]`` (edited views), ``pool`` ``[N, V]`` (their
    originals and videos they copy nothing of), ``targets`` (-1: a query whose original is not in the pool). Each
    beta of :data:`BETAS` gets the threshold of ``target`` precision; the one that finds most copies is kept."""
    similarities = queries @ pool.T
    best: tuple[CopyDecision, DecisionFigures] | None = None
    for beta in BETAS:
        trial = CopyDecision(background, beta, NEIGHBOURS, 0.0)
        figures = threshold_for(trial.scores(similarities, queries), targets, target)
        if best is None or figures.found > best[1].found:
            best = (CopyDecision(background, beta, NEIGHBOURS, figures.threshold), figures)
    return best
