"""The installed default model re-measured against the figures its release recorded.

The checksums prove the files are the released ones; this proves they behave as released on this machine:
the real-footage recall@1 per edit family, re-measured from footage and distractors made here, must match
the build's. Only floating-point differences between CPUs can move it, and by a query or two at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deephash.errors import ModelError
from deephash.model.artifacts import read_metadata
from deephash.real_footage import measure_real_footage
from export.release import ensure_dataset

TOLERANCE = 0.01  # 10 of the ~1,000 queries overall


@dataclass(frozen=True)
class ReleaseCheck:
    """Recall@1 per family (and ``all``), as the release recorded it and as measured here."""

    recorded: dict[str, float]
    measured: dict[str, float]

    @property
    def overall_difference(self) -> float:
        return abs(self.measured["all"] - self.recorded["all"])

    def passes(self, tolerance: float = TOLERANCE) -> bool:
        return self.overall_difference <= tolerance

    def table(self) -> str:
        lines = [f"{'family':<22}{'released':>10}{'here':>10}"]
        lines += [f"{name:<22}{self.recorded[name]:>10.3f}{self.measured[name]:>10.3f}" for name in self.recorded]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"recorded": self.recorded, "measured": self.measured, "tolerance": TOLERANCE}


def check_against_recorded(model_dir: Path, data_dir: Path) -> ReleaseCheck:
    """Re-measure the model's real-footage recall@1 (making the footage and the synthetic distractors in
    ``data_dir`` if they are not there) beside the figures recorded in its metadata."""
    build = read_metadata(model_dir).get("default_build")
    if not build:
        raise ModelError(f"{model_dir} records no build figures to check against")
    recorded = {name: per["1"] for name, per in build["real_footage_recall"]["hamming"].items()}
    ensure_dataset(data_dir / "synthetic")
    real, _ = measure_real_footage(model_dir, data_dir)
    measured = {name: real["hamming"][name][1] for name in recorded}
    return ReleaseCheck(recorded, measured)
