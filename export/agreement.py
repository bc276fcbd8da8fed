"""One report for every "does this artefact compute what the reference computes" question: ONNX Runtime
against PyTorch, INT8 against FP32, a TensorRT engine against ONNX Runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deephash.codes import unpack_bits


@dataclass(frozen=True)
class Agreement:
    videos: int
    bit_agreement: float  # share of code bits that are equal
    l1_agreement: float  # share of videos with the same L1 category
    l2_agreement: float
    max_probability_difference: float  # over the L1 and L2 probabilities
    # least cosine between the two verification descriptors of a video (1.0: none, or identical)
    min_verification_cosine: float = 1.0

    def passes(self, min_bit_agreement: float = 0.999, min_cosine: float = 0.999) -> bool:
        """Close enough to serve in place of the reference: nearly every bit, every category, and verification
        descriptors that point the same way."""
        categories = self.l1_agreement == 1.0 and self.l2_agreement == 1.0
        return self.bit_agreement >= min_bit_agreement and categories and self.min_verification_cosine >= min_cosine

    def to_json(self) -> dict:
        return asdict(self)


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> Agreement:
    """Agreement of two sets of model outputs (by output name) on the same videos."""
    return Agreement(
        videos=len(reference["code"]),
        bit_agreement=float((unpack_bits(reference["code"]) == unpack_bits(candidate["code"])).mean()),
        l1_agreement=float((reference["l1_id"] == candidate["l1_id"]).mean()),
        l2_agreement=float((reference["l2_id"] == candidate["l2_id"]).mean()),
        max_probability_difference=float(
            max(np.abs(reference[name] - candidate[name]).max() for name in ("l1_prob", "l2_prob"))
        ),
        min_verification_cosine=_least_cosine(reference.get("verification"), candidate.get("verification")),
    )


def _least_cosine(reference: np.ndarray | None, candidate: np.ndarray | None) -> float:
    if reference is None:
        return 1.0
    a, b = (np.asarray(value, dtype=np.float64) for value in (reference, candidate))
    cosines = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(cosines.min())
