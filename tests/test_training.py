"""Training really learns, resumes from its checkpoint, and the trained model is masked and evaluated."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest

from deephash.autolabel import autolabel, precision_threshold
from deephash.data.dataset import read_split
from deephash.errors import ModelError
from deephash.evaluation import FeatureStore, evaluate_dataset, tune_mask_ratio
from deephash.mask import CategoryMask
from deephash.model.artifacts import load_config, load_model
from deephash.model.config import ModelConfig, Taxonomy
from deephash.training.instance import Projection
from deephash.training.trainer import TrainOptions, train
from deephash.verification import Embedding


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    # the pretrained default backbone: random-init features are near-constant, nothing to learn from
    config = ModelConfig(taxonomy=Taxonomy.load(tiny_dataset / "labels.json"))
    result = train(tiny_dataset, out, config, TrainOptions(epochs=30, batch_size=12, augment_views=1))
    return out, result


def test_short_training_run_lowers_the_loss(trained):
    _, result = trained
    first = np.mean([epoch["loss"] for epoch in result.history[:3]])
    last = np.mean([epoch["loss"] for epoch in result.history[-3:]])
    assert last < 0.9 * first  # the instance and intra-pair terms are bounded by the fixed anchors
    assert result.history[-1]["l1"] < 0.6 * result.history[0]["l1"]  # the categories are learnt


def test_resume_continues_from_the_checkpoint(trained, tiny_dataset):
    out, result = trained
    config = load_model(out).config
    again = train(tiny_dataset, out, config, TrainOptions(epochs=32, batch_size=12, augment_views=1, resume=True))
    assert [epoch["epoch"] for epoch in again.history] == list(range(32))
    assert again.history[:30] == result.history


def test_mask_tuning_and_evaluation_run_on_the_trained_model(trained, tiny_dataset, tmp_path):
    out, _ = trained
    model = load_model(out)
    val = read_split(tiny_dataset, "val", model.config.taxonomy)
    features = FeatureStore(model, tmp_path).features("val", val.paths)
    ratio, scores = tune_mask_ratio(model, features, val.l2)
    assert ratio in scores and scores[ratio] == max(scores.values())
    report = evaluate_dataset(model, CategoryMask.from_head(model.head, ratio), tiny_dataset, tmp_path)
    assert set(report.retrieval) == {"hamming", "masked", "simhash"}
    chance = float(np.mean([(val.l2 == label).mean() for label in val.l2]))  # mAP of a random ranking, roughly
    assert report.retrieval["masked"].mean_average_precision > chance
    assert set(report.near_duplicates["hamming"]) >= {"mirror", "crop_zoom", "all"}
    assert "near-duplicate" in report.table()
    written = report.plot(tmp_path / "plots")
    assert all(path.stat().st_size > 1000 for path in written)


def test_precision_threshold_by_hand():
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, True, False, True])
    assert precision_threshold(confidence, correct, 1.0, minimum=2) == 0.8
    assert precision_threshold(confidence, correct, 0.8, minimum=2) == 0.6
    assert precision_threshold(confidence, correct, 1.0, minimum=5) == float("inf")


def test_autolabel_fills_only_unknown_labels(trained, tiny_dataset, tmp_path):
    out, _ = trained
    model = load_model(out)
    report = autolabel(model, tiny_dataset, tmp_path, target_precision=0.5, out=tmp_path / "auto.csv")
    before = read_split(tiny_dataset, "train", model.config.taxonomy)
    (tmp_path / "train.csv").write_text((tmp_path / "auto.csv").read_text())
    for path in before.paths:  # the written CSV's paths are relative to the dataset
        assert path.is_file()
    with (tmp_path / "auto.csv").open(newline="") as handle:
        after_l2 = np.array([int(row["l2"]) for row in csv.DictReader(handle)])
    known = before.l2 >= 0
    assert np.array_equal(after_l2[known], before.l2[known])
    assert report["l2"]["filled"] == int(((before.l2 < 0) & (after_l2 >= 0)).sum())
    assert report["l2"]["still_unknown"] == int((after_l2 < 0).sum())


def test_cached_features_are_not_reused_for_footage_made_again_at_the_same_paths(small_model, tmp_path):
    from tests.conftest import make_clip

    store = FeatureStore(load_model(small_model), tmp_path / "cache")
    paths = [make_clip(tmp_path / f"clip{index}.mp4", 12, seed=index) for index in range(2)]
    first = np.array(store.features("clips", paths))
    assert np.array_equal(store.features("clips", paths), first)  # reused while the files are unchanged
    make_clip(paths[1], 12, seed=7)  # other footage, same path
    again = np.array(store.features("clips", paths))
    assert np.array_equal(again[0], first[0]) and not np.array_equal(again[1], first[1])


def test_a_split_projections_change_bits_stay_the_anchors_in_training_and_retraining(trained, tiny_dataset, tmp_path):
    out, _ = trained
    model = load_model(out)
    config, dim = model.config, model.head.instance_planes.shape[0]
    rng = np.random.default_rng(0)
    planes = rng.standard_normal((dim, 128)).astype(np.float32)
    split = Projection(np.zeros(dim, np.float32), planes, change_bits=16, descriptor=config.descriptor)
    options = TrainOptions(epochs=1, batch_size=12, augment_views=1)
    with pytest.raises(ModelError, match="detail_pool"):  # fitted on other descriptors: refused
        other = replace(split, descriptor=replace(config.descriptor, detail_pool=1))
        train(tiny_dataset, tmp_path / "other", config, options, cache_dir=out / "cache", instance=other)
    train(tiny_dataset, tmp_path / "split", config, options, cache_dir=out / "cache", instance=split)
    assert load_config(tmp_path / "split").anchor_only_bits == 16
    again = replace(options, init_from=tmp_path / "split")
    train(tiny_dataset, tmp_path / "retrained", config, again, cache_dir=out / "cache")  # config says 0
    assert load_config(tmp_path / "retrained").anchor_only_bits == 16


def test_the_verification_embedding_is_installed_as_fitted_and_survives_retraining(trained, tiny_dataset, tmp_path):
    out, _ = trained
    config = load_config(out)
    size = load_model(out).head.instance_planes.shape[0]
    rng = np.random.default_rng(3)
    embedding = Embedding(
        rng.normal(0, 0.01, size).astype(np.float32), rng.standard_normal((size, 8)), config.descriptor
    )
    options = TrainOptions(epochs=1, batch_size=12, augment_views=1)
    with pytest.raises(ModelError, match="detail_pool"):
        stale = replace(embedding, descriptor=replace(config.descriptor, detail_pool=1))
        train(tiny_dataset, tmp_path / "stale", config, options, cache_dir=out / "cache", verification=stale)
    train(tiny_dataset, tmp_path / "verified", config, options, cache_dir=out / "cache", verification=embedding)
    installed = load_model(tmp_path / "verified")
    assert installed.config.verify_dims == 8 and installed.config.output_names[-1] == "verification"
    planes = installed.verification.embedding().planes
    assert np.allclose(planes, embedding.planes, atol=np.abs(embedding.planes).max(axis=0) / 254 + 1e-6)
    again = replace(options, init_from=tmp_path / "verified")
    train(tiny_dataset, tmp_path / "retrained", load_config(tmp_path / "verified"), again, cache_dir=out / "cache")
    assert np.array_equal(load_model(tmp_path / "retrained").verification.planes, installed.verification.planes)
