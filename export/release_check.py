"""A quick re-measurement that proves a released model behaves here as it did where it was built.

The checksums prove the files are the released ones; this proves they behave as released on this machine.
The release records the real-footage recall@1 per edit family of a fixed part of the real footage (the
variants of every fifth original, searched among all the originals, without the generated distractors: a
few minutes, where the whole evaluation needs the synthetic dataset too); the set-up makes that footage and
measures it again. Made twice, the footage is not the same to the last bit (libx264's output changes between
runs in a process that has run PyTorch), which moves this figure by about a point (docs/measurements.md): the
tolerance covers that, and a broken install (another decoder, model or pre-processing) falls far outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deephash.copy_figures import embed_features, two_stage_top
from deephash.errors import ModelError
from deephash.evaluation import model_codes
from deephash.mask import CategoryMask
from deephash.metrics import distance_matrix
from deephash.model.artifacts import MASK_FILE, load_model, read_metadata, update_metadata
from deephash.real_footage import build_real_footage, footage_features, real_footage_recall

CHECK_EVERY = 5  # every fifth original
CHECK_KEY = "release_check"
TOLERANCE = 0.03  # overall recall@1; see the module docstring


@dataclass(frozen=True)
class ReleaseCheck:
    """Recall@1 per family (and ``all``), as the release recorded it and as measured here."""

    recorded: dict[str, float]
    measured: dict[str, float]

    @property
    def overall_difference(self) -> float:
        return abs(self.measured["all"] - self.recorded["all"])

    def passes(self, tolerance: float = TOLERANCE) -> bool:
        """The code's overall recall and, where recorded, the copy search's within ``tolerance``."""
        copies = [abs(self.measured[name] - self.recorded[name]) for name in ("copy_search",) if name in self.recorded]
        return self.overall_difference <= tolerance and all(difference <= tolerance for difference in copies)

    def table(self) -> str:
        lines = [f"{'family':<24}{'released':>10}{'here':>10}"]
        lines += [f"{name:<24}{self.recorded[name]:>10.3f}{self.measured[name]:>10.3f}" for name in self.recorded]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"recorded": self.recorded, "measured": self.measured, "tolerance": TOLERANCE}


def check_recall(model_dir: Path, data_dir: Path) -> dict[str, float]:
    """Real-footage recall@1 per family of the code on the check's part of the footage (made in
    ``data_dir/real``) and, for a model with a verification descriptor, ``copy_search``: of the two-stage search
    the service runs."""
    model = load_model(model_dir)
    mask = CategoryMask.load(model_dir / MASK_FILE)
    footage = build_real_footage(data_dir / "real", every=CHECK_EVERY)
    real, _ = real_footage_recall(model, mask, footage, None, data_dir / "cache", cache_name=CHECK_KEY)
    recall = {name: per[1] for name, per in real["hamming"].items()}
    if model.verification is not None:
        variants, pool = footage_features(model, footage, None, data_dir / "cache", cache_name=CHECK_KEY)
        hamming = distance_matrix(model_codes(model, variants).codes, model_codes(model, pool).codes)
        similarity = embed_features(model, variants) @ embed_features(model, pool).T
        recall["copy_search"] = float((two_stage_top(hamming, similarity) == footage.targets).mean())
    return recall


def record_check(model_dir: Path, data_dir: Path) -> dict[str, float]:
    """Measure the check where the model is built and record it for the set-ups that install it."""
    recall = check_recall(model_dir, data_dir)
    update_metadata(model_dir, {CHECK_KEY: {"every": CHECK_EVERY, "recall_at_1": recall}})
    return recall


def check_against_recorded(model_dir: Path, data_dir: Path) -> ReleaseCheck:
    """The check measured here beside the figures its release recorded."""
    recorded = read_metadata(model_dir).get(CHECK_KEY)
    if not recorded or recorded.get("every") != CHECK_EVERY:
        raise ModelError(f"{model_dir} records no {CHECK_KEY} figures of this check to compare with")
    return ReleaseCheck(recorded["recall_at_1"], check_recall(model_dir, data_dir))
