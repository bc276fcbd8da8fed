"""Build the synthetic dataset: procedural MP4 videos, train/query/database splits, near-duplicates."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.data import synth
from deephash.data.dataset import SPLITS, write_split
from deephash.data.variants import TRANSFORMS, make_variant
from deephash.model.config import LABELS_FILE
from deephash.video.files import write_video
from deephash.worker_start import WORKER_START


@dataclass(frozen=True)
class DatasetPlan:
    train_per_class: int = 16
    val_per_class: int = 6
    query_per_class: int = 3
    database_per_class: int = 10
    frames: int = 30
    fps: float = 15.0
    seed: int = 0
    unknown_fraction: float = 0.1  # training labels hidden (-1) to exercise partial labels
    transforms: tuple[str, ...] = tuple(TRANSFORMS)
    workers: int = 2


def _render_one(job: tuple[int, int, int, float, str]) -> int:
    l2, seed, frames, fps, path = job
    images, palette = synth.render_video(l2, seed, frames)
    write_video(Path(path), images, fps)
    return palette


def _variant_one(job: tuple[str, str, str]) -> None:
    source, transform, out = job
    make_variant(Path(source), transform, Path(out))


def make_dataset(root: Path, plan: DatasetPlan = DatasetPlan()) -> Path:
    """Write the dataset under ``root`` (idempotent: files already there are rewritten)."""
    root.mkdir(parents=True, exist_ok=True)
    taxonomy = synth.taxonomy()
    taxonomy.save(root / LABELS_FILE)
    rng = np.random.default_rng(plan.seed)
    counts = {
        "train": plan.train_per_class,
        "val": plan.val_per_class,
        "query": plan.query_per_class,
        "database": plan.database_per_class,
    }
    jobs, rows = [], {split: [] for split in SPLITS}
    for split in SPLITS:
        for l2 in range(len(taxonomy.l2_names)):
            for index in range(counts[split]):
                relative = f"videos/{split}/{taxonomy.l2_names[l2]}_{index:03d}.mp4"
                jobs.append((l2, int(rng.integers(2**31)), plan.frames, plan.fps, str(root / relative)))
                rows[split].append({"path": relative, "l1": taxonomy.l2_parent[l2], "l2": l2})
    with ProcessPoolExecutor(plan.workers, mp_context=WORKER_START) as pool:
        palettes = list(tqdm(pool.map(_render_one, jobs, chunksize=4), total=len(jobs), desc="videos", unit="video"))
    flat = [row for split in SPLITS for row in rows[split]]
    for row, palette in zip(flat, palettes):
        row["palette"] = palette
    for row in rows["train"]:
        for key in ("l1", "l2", "palette"):
            if rng.random() < plan.unknown_fraction:
                row[key] = -1
    for split in SPLITS:
        write_split(root, split, rows[split])
    variant_jobs, variant_rows = [], []
    for source, row in enumerate(rows["query"]):
        for transform in plan.transforms:
            relative = f"variants/{transform}/{Path(row['path']).name}"
            variant_jobs.append((str(root / row["path"]), transform, str(root / relative)))
            variant_rows.append({"path": relative, "source": source, "transform": transform})
    with ProcessPoolExecutor(plan.workers, mp_context=WORKER_START) as pool:
        list(
            tqdm(
                pool.map(_variant_one, variant_jobs, chunksize=4),
                total=len(variant_jobs),
                desc="near-duplicates",
                unit="video",
            )
        )
    write_split(root, "variants", variant_rows)
    return root
