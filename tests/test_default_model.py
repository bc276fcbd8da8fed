"""The default model built by the README's set-up: real clips in, sensible codes out, through the CLI too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deephash.cli.main import main
from deephash.codes import hamming
from deephash.data.dataset import read_variants
from deephash.data.families import FAMILIES
from deephash.distractors import measure_at_scale
from deephash.hasher import EmbeddedHasher
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, ONNX_FILE, file_sha256, read_metadata
from deephash.real_footage import build_real_footage, margin_over_simhash, measure_real_footage
from deephash.video import sample_frames
from export.onnx_model import parity_report
from export.release import DEFAULT_DATA_DIR, ensure_dataset
from export.release_check import CHECK_EVERY


@pytest.fixture(scope="module")
def hasher(default_model) -> EmbeddedHasher:
    return EmbeddedHasher(default_model)


def test_carphone_pair_is_closer_than_every_unrelated_pair(hasher, clips):
    codes = {name: hasher.hash_video(path).code for name, path in clips.items()}
    pair = int(hamming(codes["carphone_pristine"], codes["carphone_distorted"]))
    unrelated = [
        int(hamming(codes[a], codes[b]))
        for a in ("carphone_pristine", "carphone_distorted")
        for b in ("bikes", "bigbuckbunny")
    ]
    # the distorted copy carries a third party's blocking, which the regional descriptor partly sees as content
    assert pair < min(unrelated), (pair, unrelated)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    """The README's data folder with the synthetic dataset the real-footage figures take distractors from
    (the set-up installs a released model and makes only the footage of its quick check)."""
    ensure_dataset(DEFAULT_DATA_DIR / "synthetic")
    return DEFAULT_DATA_DIR


def test_beats_simhash_on_real_footage_by_its_recorded_margin(default_model, data_dir):
    """The issue's bar, re-measured from the installed model on real footage made here: near-duplicate
    recall@1 on unseen real footage above SimHash of the same backbone's mean-pooled features at the same
    code length, averaged over 8 hyperplane draws (one draw moves by ±0.03), by the margin the build recorded
    but for the footage's noise (re-made footage is not the build's to the last bit, and 1,004 queries move
    recall@1 by about 0.01)."""
    real, draws = measure_real_footage(default_model, data_dir)
    recorded = read_metadata(default_model)["default_build"]["margin_over_simhash_mean"]
    assert margin_over_simhash(real, draws) > max(0.0, recorded - 0.03), (real["hamming"]["all"], draws, recorded)


def test_the_release_check_measures_a_part_of_the_real_footage_with_its_own_variants(default_model):
    """The set-up's quick check (export/release_check.py) asks with the full evaluation's own variant files of
    every fifth original, each paired with its own original, among all the originals."""
    full = build_real_footage(DEFAULT_DATA_DIR / "real")
    part = build_real_footage(DEFAULT_DATA_DIR / "real", every=CHECK_EVERY)
    assert part.originals == full.originals and len(part.variants) >= 10 * len(FAMILIES)
    pairs = set(zip(full.variants, full.targets))
    assert set(zip(part.variants, part.targets)) <= pairs and set(part.targets) == set(
        range(0, len(full.originals), CHECK_EVERY)
    )


def test_onnx_runtime_matches_pytorch_on_real_frames(default_model, clips):
    frames = np.stack([sample_frames(path).frames for path in clips.values()])
    report = parity_report(default_model, frames)
    assert report.passes() and report.max_probability_difference < 1e-3, report


def test_metadata_records_version_mask_and_figures(default_model):
    metadata = read_metadata(default_model)
    assert metadata["model_version"] == file_sha256(default_model / ONNX_FILE)
    assert metadata["mask"]["ratio"] == CategoryMask.load(default_model / MASK_FILE).ratio
    assert str(metadata["mask"]["ratio"]) in metadata["mask"]["val_map_by_ratio"]
    figures = metadata["evaluation"]
    assert set(figures["map"]) == {"hamming", "masked", "simhash"}
    build = metadata["default_build"]
    assert "real_footage_recall" in build
    draws = build["simhash_real_recall_by_seed"]
    assert len(draws) == 8 and len(set(draws)) > 1  # eight different hyperplane draws
    assert draws[0] == build["real_footage_recall"]["simhash"]["all"]["1"]  # the draw the report compares with


def test_recommended_duplicate_threshold_is_recorded_and_holds_here(default_model, data_dir):
    """The build chose the threshold on generated footage among generated distractors and recorded it.
    Re-measured on footage made here (not the build's to the last bit: see export/release_check.py), the
    recorded threshold keeps its precision promise but for the stray hits that noise moves, the threshold
    recommended here meets its target, and real-footage recall@1 among the distractors is the recorded one
    within the footage's noise.

    The promise is counted in stray hits, not in bits: at the precision target a few hundred generated queries
    allow one or two distractors within the threshold, so one stray more or fewer on re-made footage moves the
    widest threshold that meets it by a bit or two where the model's curve is flat there. Stray hits are a count
    (2, 3 and 4 at the release's 13 bits on three makings of the footage), so the check allows a count's noise."""
    recorded = read_metadata(default_model)["duplicate_decision"]
    count = recorded["real"]["distractors"]
    assert count >= 10_000
    here = measure_at_scale(default_model, data_dir, count)
    queries = len(read_variants(data_dir / "synthetic").paths)
    at_recorded = here["generated_by_threshold"][recorded["recommended_threshold"]]
    true_hits = round(at_recorded["recall"] * queries)
    allowed = true_hits * (1 / here["precision_target"] - 1)  # strays the target allows among those copies
    strays = round(at_recorded["distractors_per_query"] * queries)
    assert strays <= allowed + 3 * np.sqrt(allowed + 1), (at_recorded, allowed)  # a count's noise: 3 sigma
    generated = here["generated"]["at_threshold"]
    assert here["recommended_threshold"] == generated["threshold"] > 0
    against_distractors = generated["recall"] / (generated["recall"] + generated["distractors_per_query"])
    assert against_distractors >= here["precision_target"] and generated["recall"] > 0.3
    real = here["real"]
    assert abs(real["recall_at_1"] - recorded["real"]["recall_at_1"]) <= 0.03
    assert real["recall_at_1"] <= real["recall_at_1_without_distractors"]


def test_cli_hash_prints_code_and_categories(default_model, clips, capsys):
    assert main(["hash", str(clips["bikes"]), "--model", str(default_model), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["code"]) == 32 and int(result["code"], 16) >= 0
    local = EmbeddedHasher(default_model).hash_video(clips["bikes"])
    assert (result["code"], result["l2"]["name"]) == (local.code_hex, local.l2.name)
    assert result["model_version"] == read_metadata(default_model)["model_version"]
    assert result["audio_code"] is None  # bikes.mp4 has no sound track


def test_cli_reports_a_bad_video_without_a_traceback(default_model, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["hash", str(bad), "--model", str(default_model)]) == 3
    assert "error" in capsys.readouterr().out
