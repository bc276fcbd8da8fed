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

    def passes(self, min_bit_agreement: float = 0.999) -> bool:
        """Close enough to serve in place of the reference: nearly every bit, and every category."""
        return self.bit_agreement >= min_bit_agreement and self.l1_agreement == 1.0 and self.l2_agreement == 1.0

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
    )
