"""Build the synthetic dataset: procedural MP4 videos, train/query/database splits, near-duplicates.

The near-duplicates are the edit families of :mod:`deephash.data.families`, every one of them
(:data:`VARIANT_FAMILIES`) at one fixed strength (:data:`VARIANT_STRENGTH`, the middle of each family's range: an
edit of moderate strength), one file per query video and family; the choices that are not a matter of strength
(where a crop sits, which overlay) are drawn per file from the plan's seed. A variant keeps the source's sound,
cut or stretched with the frames where the family edits time (:mod:`deephash.data.families.temporal`).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.data import synth
from deephash.data.dataset import SPLITS, write_split
from deephash.data.families import FAMILIES, Clip
from deephash.model.config import LABELS_FILE
from deephash.video.files import read_video, write_video

VARIANT_FAMILIES: tuple[str, ...] = tuple(FAMILIES)  # the near-duplicate variants made of each query video
# Workers start as fresh interpreters, never forks of the caller: a forked worker inherits every lock the caller's
# threads (PyAV's, PyTorch's) held at the moment of the fork, and one that then waits on such a lock hangs the
# whole build, rarely and without an error.
WORKER_START = multiprocessing.get_context("spawn")
VARIANT_STRENGTH = 0.5  # the middle of every family's range
VARIANT_AUDIO_BITRATE = 96_000
LOW_BITRATE_AUDIO = 32_000  # a low-bitrate re-upload squeezes its sound too


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
    families: tuple[str, ...] = VARIANT_FAMILIES  # of the near-duplicate variants
    strength: float = VARIANT_STRENGTH  # of the near-duplicate variants' edits
    workers: int = 2


def _render_one(job: tuple[int, int, int, float, str]) -> int:
    l2, seed, frames, fps, path = job
    images, palette = synth.render_video(l2, seed, frames)
    write_video(Path(path), images, fps)
    return palette


def _backdrop(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Other content around a picture-in-picture: a procedural still."""
    from deephash.data.procedural import procedural_image

    return procedural_image(rng, height, width)


def make_variant(source: Path, family: str, out: Path, strength: float = VARIANT_STRENGTH, seed: int = 0) -> Path:
    """Write ``source`` edited by the named family at ``strength`` to ``out``, its sound carried over (cut or
    stretched with the frames by the families that edit time); the edit's other choices come from ``seed``."""
    video = read_video(source)
    clip = Clip(video.frames, video.fps, video.audio, video.sample_rate)
    edited = FAMILIES[family].at(strength, np.random.default_rng(seed), clip.size, _backdrop)(clip)
    bitrate = LOW_BITRATE_AUDIO if family == "low_bitrate" else VARIANT_AUDIO_BITRATE
    sound = {} if edited.audio is None else {"audio": edited.audio, "sample_rate": edited.sample_rate}
    return write_video(out, edited.frames, edited.fps, audio_bitrate=bitrate, **sound)


def _variant_one(job: tuple[str, str, str, float, int]) -> None:
    source, family, out, strength, seed = job
    make_variant(Path(source), family, Path(out), strength, seed)


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
        for family in plan.families:
            relative = f"variants/{family}/{Path(row['path']).name}"
            job = (str(root / row["path"]), family, str(root / relative), plan.strength, int(rng.integers(2**31)))
            variant_jobs.append(job)
            variant_rows.append({"path": relative, "source": source, "transform": family})
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
