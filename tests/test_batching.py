"""Batch sizes chosen from measurement: the profile, what Triton's config and the embedded batcher make of it."""

from __future__ import annotations

import time

import pytest

from deephash.errors import ModelError
from deephash.model.batching import BATCHING_FILE, BatchingProfile, measure_batching


def profile(**rates: float) -> BatchingProfile:
    return BatchingProfile("test CPU", 2, {int(size.lstrip("b")): rate for size, rate in rates.items()})


def test_only_sizes_clearly_faster_than_one_video_are_useful():
    measured = profile(b1=40.0, b2=44.0, b4=42.5, b8=41.0, b16=20.0)  # 8 is within the noise of batch 1
    assert measured.useful_sizes == (2, 4) and measured.max_batch == 4
    gap = profile(b1=40.0, b2=44.0, b4=39.0, b8=48.0)  # a batcher would form 3 and 4 on its way to 8
    assert gap.useful_sizes == (2,) and gap.max_batch == 2
    assert profile(b1=40.0, b2=30.0).useful_sizes == () and profile(b1=40.0, b2=30.0).max_batch == 1


def test_measurement_follows_the_cost_of_a_batch():
    """A call of fixed cost rewards batching; a cost growing with the square of the batch punishes it."""
    fixed = measure_batching(lambda batch: time.sleep(0.02), (1,), "test", 1, sizes=(1, 2, 4), seconds=0.15)
    assert fixed.useful_sizes == (2, 4)
    quadratic = measure_batching(
        lambda batch: time.sleep(0.005 * len(batch) ** 2), (1,), "test", 1, sizes=(1, 2, 4), seconds=0.15
    )
    assert quadratic.useful_sizes == () and quadratic.max_batch == 1


def test_saved_and_loaded_alike(tmp_path):
    measured = profile(b1=10.0, b2=12.5)
    measured.save(tmp_path)
    assert BatchingProfile.load(tmp_path) == measured
    assert BatchingProfile.load(tmp_path / "elsewhere") is None
    (tmp_path / BATCHING_FILE).write_text('{"device": "x"}')
    with pytest.raises(ModelError, match="malformed"):
        BatchingProfile.load(tmp_path)


def test_triton_config_forms_only_the_useful_sizes(default_model):
    from deephash.model.artifacts import load_config
    from export.triton_config import TritonModelConfig

    config = load_config(default_model)
    tuned = TritonModelConfig().with_batching(profile(b1=40.0, b2=44.0, b4=42.0, b8=30.0)).to_proto(config)
    assert tuned.max_batch_size == 64 and list(tuned.dynamic_batching.preferred_batch_size) == [2, 4]
    alone = TritonModelConfig().with_batching(profile(b1=40.0, b2=30.0)).to_proto(config)
    assert alone.max_batch_size == 64 and not alone.HasField("dynamic_batching")  # clients may still batch
    with pytest.raises(ValueError, match="KIND_GPU"):
        TritonModelConfig(target="tensorrt", kind="KIND_GPU").with_batching(profile(b1=40.0, b2=44.0))


def test_embedded_batcher_takes_the_setting_then_the_profile_then_a_default(tmp_path, monkeypatch):
    from deephash.model.batching import cpu_name
    from deephash.model.onnx import default_threads
    from serving.settings import UNMEASURED_MAX_BATCH, ServiceSettings

    monkeypatch.delenv("DEEPHASH_MAX_BATCH", raising=False)
    assert ServiceSettings(model=tmp_path).embedded_max_batch() == UNMEASURED_MAX_BATCH
    profile(b1=40.0, b2=44.0, b4=30.0).save(tmp_path)  # measured elsewhere: ignored
    assert ServiceSettings(model=tmp_path).embedded_max_batch() == UNMEASURED_MAX_BATCH
    BatchingProfile(cpu_name(), default_threads(), {1: 40.0, 2: 44.0, 4: 30.0}).save(tmp_path)
    assert ServiceSettings(model=tmp_path).embedded_max_batch() == 2
    monkeypatch.setenv("DEEPHASH_MAX_BATCH", "8")
    assert ServiceSettings(model=tmp_path).embedded_max_batch() == 8


def test_cli_measures_then_renders_a_repository_from_the_measurement(default_model, tmp_path, capsys):
    from deephash.cli.main import main
    from deephash.model.artifacts import load_config

    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "labels.json", "model.onnx"):
        (model / name).symlink_to(default_model / name)
    load_config(model)
    assert (
        main(["export", "repository", "--model", str(model), "--out", str(tmp_path / "r"), "--measured-batching"]) == 2
    )
    assert "deephash export batching" in capsys.readouterr().err
    assert main(["export", "batching", "--model", str(model), "--seconds", "0.05"]) == 0
    measured = BatchingProfile.load(model)
    assert set(measured.videos_per_s) == {1, 2, 4, 8, 16, 32}
    assert (
        main(["export", "repository", "--model", str(model), "--out", str(tmp_path / "r"), "--measured-batching"]) == 0
    )
    text = (tmp_path / "r" / "deephash_video" / "config.pbtxt").read_text()
    assert "max_batch_size: 64\n" in text
    assert ("dynamic_batching" in text) == bool(measured.useful_sizes)


def test_triton_serves_the_batching_measured_on_this_machine(default_model, tmp_path):
    from deephash.model.batching import cpu_name
    from deephash.model.onnx import default_threads
    from export.triton_config import SERVED_MODEL_NAME
    from export.triton_repository import DEFAULT_REPOSITORY
    from serving.triton_cmd import repository_for_this_machine
    from tests.conftest import copy_model

    model = copy_model(default_model, tmp_path / "model")
    (model / BATCHING_FILE).unlink(missing_ok=True)
    assert repository_for_this_machine(model, tmp_path / "none") == DEFAULT_REPOSITORY
    for rates, batching in (({1: 40.0, 2: 39.0}, None), ({1: 40.0, 2: 44.0, 4: 48.0, 8: 30.0}, [2, 4])):
        BatchingProfile(cpu_name(), default_threads(), rates).save(model)
        folder = repository_for_this_machine(model, tmp_path / str(len(rates)))
        text = (folder / SERVED_MODEL_NAME / "config.pbtxt").read_text()
        if batching is None:
            assert "dynamic_batching" not in text
        else:
            assert "preferred_batch_size: 2\n" in text and "preferred_batch_size: 4\n" in text
            assert "preferred_batch_size: 8" not in text
