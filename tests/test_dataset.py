"""The synthetic dataset builder writes real, decodable MP4s with consistent labels and variants."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from deephash.audio import AUDIO_RATE, audio_code, decode_audio
from deephash.codes import hamming
from deephash.data.dataset import read_split, read_variants
from deephash.data.families import FAMILIES
from deephash.data.families.frame_ops import resize
from deephash.data.make_dataset import VARIANT_FAMILIES, VARIANT_STRENGTH, make_variant
from deephash.errors import DatasetError
from deephash.model.config import Taxonomy
from deephash.video import sample_frames
from deephash.video.files import read_video, write_video


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
    """One variant per query and family, each a playable file; the synthetic videos have no sound, nor have their
    variants."""
    assert tuple(FAMILIES) == VARIANT_FAMILIES and 0 < VARIANT_STRENGTH < 1
    variants = read_variants(tiny_dataset)
    assert len(variants.paths) == 12 * len(VARIANT_FAMILIES)
    assert set(variants.transform) == set(VARIANT_FAMILIES)
    for path in variants.paths[:: len(VARIANT_FAMILIES) + 1]:
        assert sample_frames(path).frames.shape == (5, 3, 224, 224)
        assert decode_audio(path) is None


def test_variants_really_change_the_video(tiny_dataset):
    taxonomy = Taxonomy.load(tiny_dataset / "labels.json")
    source = read_split(tiny_dataset, "query", taxonomy).paths[0]
    variants = read_variants(tiny_dataset)

    def variant(family: str) -> Path:
        return next(p for p, t, s in zip(variants.paths, variants.transform, variants.source) if t == family and s == 0)

    original, video = sample_frames(source), read_video(source)
    flipped = sample_frames(variant("mirror"))
    assert np.abs(original.frames.astype(int) - flipped.frames[..., ::-1].astype(int)).mean() < 12
    small = sample_frames(variant("low_bitrate"))  # the middle of 199-120 px wide
    assert (small.width, small.height) == (160, 120) and (original.width, original.height) == (192, 144)
    trimmed = read_video(variant("trim"))  # the middle of 80-40 % kept
    assert len(trimmed.frames) == round(0.6 * len(video.frames)) and trimmed.fps == video.fps
    assert read_video(variant("frame_rate")).fps == video.fps / 2


@pytest.fixture(scope="module")
def sound_source(clips, tmp_path_factory) -> Path:
    """A small video with real sound: Big Buck Bunny's track under its frames at 128 x 72."""
    video = read_video(clips["bigbuckbunny"])
    path = tmp_path_factory.mktemp("sound") / "bunny.mp4"
    frames = [resize(frame, 128, 72) for frame in video.frames]
    return write_video(path, frames, video.fps, audio=video.audio, sample_rate=video.sample_rate)


@pytest.mark.parametrize("family", ["mirror", "low_bitrate", "trim", "speed", "frame_rate"])
def test_a_variant_keeps_the_sources_sound(sound_source, family, tmp_path):
    """The sound comes along, cut or stretched where the family edits time, so it lasts as long as the picture;
    where the timing stays, its audio code is the source's, give or take a lossy re-encode."""
    variant = make_variant(sound_source, family, tmp_path / f"{family}.mp4", seed=1)
    video = read_video(variant)
    samples = decode_audio(variant)
    seconds = len(video.frames) / video.fps
    assert samples is not None and abs(len(samples) / AUDIO_RATE - seconds) < 0.05 + 0.02 * seconds  # AAC padding
    if FAMILIES[family].spatial or family == "frame_rate":
        source = decode_audio(sound_source)
        assert abs(len(samples) - len(source)) < 0.05 * AUDIO_RATE
        assert int(hamming(audio_code(source), audio_code(samples))) <= 16


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
