"""The synthetic dataset builder writes real, decodable MP4s with consistent labels and variants."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from deephash.data.dataset import read_split, read_variants
from deephash.data.variants import TRANSFORMS
from deephash.errors import DatasetError
from deephash.model.config import Taxonomy
from deephash.video import sample_frames


def test_splits_labels_and_files(tiny_dataset):
    taxonomy = Taxonomy.load(tiny_dataset / "labels.json")
    assert len(taxonomy.l1_names) == 4 and len(taxonomy.l2_names) == 12
    counts = {"train": 3, "val": 2, "query": 1, "database": 2}
    for name, per_class in counts.items():
        split = read_split(tiny_dataset, name, taxonomy)
        assert len(split) == per_class * 12
        known = split.l2 >= 0
        assert np.all(np.array(taxonomy.l2_parent)[split.l2[known]] == split.l1[known])
    query = read_split(tiny_dataset, "query", taxonomy)
    sampled = sample_frames(query.paths[0])
    assert sampled.frames.shape == (5, 3, 224, 224) and not sampled.repeated


def test_every_query_has_every_variant(tiny_dataset):
    variants = read_variants(tiny_dataset)
    assert len(variants.paths) == 12 * len(TRANSFORMS)
    assert set(variants.transform) == set(TRANSFORMS)
    for path in variants.paths[:: len(TRANSFORMS) + 1]:
        assert sample_frames(path).frames.shape == (5, 3, 224, 224)


def test_variants_really_change_the_video(tiny_dataset):
    taxonomy = Taxonomy.load(tiny_dataset / "labels.json")
    source = read_split(tiny_dataset, "query", taxonomy).paths[0]
    variants = read_variants(tiny_dataset)
    original = sample_frames(source)
    flipped = sample_frames(
        next(p for p, t, s in zip(variants.paths, variants.transform, variants.source) if t == "flip" and s == 0)
    )
    assert np.abs(original.frames.astype(int) - flipped.frames[..., ::-1].astype(int)).mean() < 12
    rescaled = sample_frames(
        next(p for p, t, s in zip(variants.paths, variants.transform, variants.source) if t == "rescale" and s == 0)
    )
    assert (rescaled.width, rescaled.height) == (original.width // 2, original.height // 2)


def test_bad_csv_is_a_dataset_error(tiny_dataset, tmp_path):
    taxonomy = Taxonomy.load(tiny_dataset / "labels.json")
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "l1", "l2", "palette"])
        writer.writerow(["missing.mp4", "0", "99", "0"])
    with pytest.raises(DatasetError, match="outside"):
        read_split(tmp_path, "train", taxonomy)
    with pytest.raises(DatasetError, match="not found"):
        read_split(tmp_path, "val", taxonomy)


def test_missing_l1_is_filled_from_l2_and_contradictions_are_refused(tiny_dataset, tmp_path):
    taxonomy = Taxonomy.load(tiny_dataset / "labels.json")
    video = read_split(tiny_dataset, "query", taxonomy).paths[0]
    rows = [["path", "l1", "l2", "palette"], [str(video), "-1", "4", "-1"]]
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    split = read_split(tmp_path, "train", taxonomy)
    assert split.l1[0] == taxonomy.l2_parent[4]
    rows[1][1] = str((taxonomy.l2_parent[4] + 1) % 4)
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DatasetError, match="not in the l1 group"):
        read_split(tmp_path, "train", taxonomy)
