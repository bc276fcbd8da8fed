"""A retrained model beside the model it started from, on the same held-out data: what activation of its
library version is judged on."""

from __future__ import annotations

from pathlib import Path

from deephash.evaluation import EvaluationReport, evaluate_dataset
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, load_model, model_version, update_metadata


def headline_figures(report: EvaluationReport) -> dict[str, float]:
    """mAP of each method and near-duplicate recall@1 of the model's codes, keyed for a side-by-side table."""
    figures = {f"map_{method}": metrics.mean_average_precision for method, metrics in report.retrieval.items()}
    if report.near_duplicates:
        figures["near_duplicate_recall_at_1"] = report.near_duplicates["hamming"]["all"][1]
    return figures


def compare_with_previous(new_dir: Path, previous_dir: Path, dataset_root: Path, cache_dir: Path) -> str:
    """Evaluate both models on ``dataset_root``'s query and database splits, record both reports in the new
    model's metadata (``evaluation`` and ``compared_with``) and return the side-by-side table."""
    reports = {}
    for name, folder in (("previous", previous_dir), ("new", new_dir)):
        reports[name] = evaluate_dataset(
            load_model(folder), CategoryMask.load(folder / MASK_FILE), dataset_root, cache_dir
        )
    previous, new = (headline_figures(reports[name]) for name in ("previous", "new"))
    update_metadata(
        new_dir,
        {
            "evaluation": reports["new"].to_json(),
            "compared_with": {
                "model_version": model_version(previous_dir),
                "model_dir": str(previous_dir),
                "dataset": str(dataset_root),
                "evaluation": reports["previous"].to_json(),
            },
        },
    )
    lines = [f"{'figure (same held-out data)':<30}{'previous':>10}{'new':>10}{'change':>10}"]
    for figure, value in new.items():
        before = previous.get(figure, float("nan"))
        lines.append(f"{figure:<30}{before:>10.3f}{value:>10.3f}{value - before:>+10.3f}")
    return "\n".join(lines)
