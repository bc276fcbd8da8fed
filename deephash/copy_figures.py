"""What a caller of copy search gets, measured: recall@1 of the code alone, of the two-stage search and of the
float descriptor on real footage; the duplicate decision fitted on generated footage and measured on real footage
among generated distractors. The build records these, ``install-default`` re-measures them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deephash.decision import CopyDecision, DecisionFigures, decide_answers, fit_decision
from deephash.distractors import distractor_codes, distractor_embeddings
from deephash.evaluation import model_codes
from deephash.metrics import distance_matrix, recall_at
from deephash.model.network import DeepHashNet
from deephash.model.pooling import video_descriptor_array
from deephash.real_footage import RealFootage, footage_features, generated_distractor_features
from deephash.verification import normalise

CANDIDATES = 100  # the service's default search: k = 10 answers x oversampling 10
BACKGROUND = 1000  # generated videos in the decision's background


def embed_features(model: DeepHashNet, features: np.ndarray, chunk: int = 256) -> np.ndarray:
    """The model's verification descriptors of cached per-frame features ``[N, T, F]``."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(features), chunk):
            block = torch.from_numpy(np.asarray(features[start : start + chunk], dtype=np.float32))
            rows.append(model.verification(block).numpy())
    return np.concatenate(rows)


def embed_views(model: DeepHashNet, views: np.ndarray) -> np.ndarray:
    """The model's verification descriptors of generated views' video descriptors ``[..., D]``."""
    embedding = model.verification.embedding()
    flat = views.reshape(-1, views.shape[-1])
    rows = [embedding.embed(flat[start : start + 4096]) for start in range(0, len(flat), 4096)]
    return np.concatenate(rows).reshape(*views.shape[:-1], -1)


def two_stage_top(hamming: np.ndarray, similarity: np.ndarray, candidates: int = CANDIDATES) -> np.ndarray:
    """Each query's answer: the most similar of its ``candidates`` nearest by Hamming distance (ties: row order)."""
    nearest = np.argsort(hamming, axis=1, kind="stable")[:, :candidates]
    picked = np.take_along_axis(similarity, nearest, axis=1).argmax(axis=1)
    return nearest[np.arange(len(nearest)), picked]


def fit_on_generated(
    model: DeepHashNet, views: np.ndarray, held_out: int, look_alikes: np.ndarray, distractors: np.ndarray
) -> tuple[CopyDecision, DecisionFigures]:
    """The decision fitted on generated footage: the edited views of the stream's last ``held_out`` videos search
    the originals of every other one of them (the rest copy nothing in the pool), the look-alike groups and the
    ``distractors``' descriptors; the background is the stream's first videos as uploaded."""
    embedded = embed_views(model, views[-held_out:])
    alike = embed_views(model, look_alikes[:, 0])
    queries = embedded[:, 1:].reshape(-1, embedded.shape[-1])
    kept = np.arange(0, held_out, 2)  # videos whose original is in the pool
    pool = np.concatenate([embedded[kept, 0], alike, distractors])
    index = np.full(held_out, -1)
    index[kept] = np.arange(len(kept))
    targets = np.repeat(index, embedded.shape[1] - 1)
    background = normalise(embed_views(model, views[:BACKGROUND, 0]))
    return fit_decision(queries, pool, targets, background)


def real_copy_figures(
    model: DeepHashNet, footage: RealFootage, data_dir: Path, decision: CopyDecision, distractors: int
) -> dict:
    """Real footage's copies searched the service's way among the originals and generated videos, and decided
    among ``distractors`` generated stills besides."""
    cache = data_dir / "cache"
    variants, pool = footage_features(model, footage, generated_distractor_features(model, data_dir), cache)
    feature_dim, motion = model.encoder.feature_dim, model.config.motion_weight
    codes = model_codes(model, variants).codes
    hamming = distance_matrix(codes, model_codes(model, pool).codes)
    queries, stored = embed_features(model, variants), embed_features(model, pool)
    similarity = queries @ stored.T
    floats = [normalise(video_descriptor_array(part[..., feature_dim:], motion)) for part in (variants, pool)]
    targets, families = footage.targets, np.array(footage.families)
    answers = two_stage_top(hamming, similarity)
    float_similarity = floats[0] @ floats[1].T
    recall = {
        "code": recall_at(hamming, targets)[1],
        "two_stage": float((answers == targets).mean()),
        "float_descriptor": recall_at(-float_similarity, targets)[1],
    }
    by_family = {
        family: {
            "two_stage": float((answers[families == family] == targets[families == family]).mean()),
            "float_descriptor": recall_at(-float_similarity[families == family], targets[families == family])[1],
        }
        for family in dict.fromkeys(footage.families)
    }
    wide = np.concatenate([hamming, distance_matrix(codes, distractor_codes(model, distractors, cache))], axis=1)
    among = np.concatenate([similarity, queries @ distractor_embeddings(model, distractors, cache).T], axis=1)
    answers = two_stage_top(wide, among)
    scores = decision.scores(among[np.arange(len(answers)), answers], queries)
    decided = decide_answers(answers, scores, targets, decision.threshold)
    return {
        "recall_at_1": recall,
        "by_family": by_family,
        "decision": {"distractors": distractors, **decided.to_json()},
    }
