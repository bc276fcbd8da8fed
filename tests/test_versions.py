"""Library versions of a data folder: prepared per model, activated only when complete and no worse, rolled back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deephash.cli.main import main
from deephash.errors import LibraryError
from deephash.index import Library
from deephash.model.artifacts import load_config, model_version, update_metadata
from deephash.offline.versions import DataVersions, version_name
from tests.conftest import copy_model, retrained_copy


@pytest.fixture
def two_models(small_model, tmp_path) -> tuple[Path, Path]:
    """Copies of the small model and a retrained one (another version), each with recorded figures of its own."""
    first, retrained = copy_model(small_model, tmp_path / "first"), retrained_copy(small_model, tmp_path / "second")
    for folder, recall in ((first, 0.80), (retrained, 0.85)):
        update_metadata(folder, {"default_build": {"real_footage_recall": {"hamming": {"all": {"1": recall}}}}})
    return first, retrained


def _fill(versions: DataVersions, model: Path, ids: list[str]) -> str:
    folder = versions.prepare(model)
    bits = load_config(model).code_bits
    codes = np.random.default_rng(len(ids)).integers(0, 256, (len(ids), bits // 8), dtype=np.uint8)
    with Library.open_or_create(folder / "video", bits, model_version(model)) as library:
        library.add_many(ids, codes, np.zeros(len(ids)), np.zeros(len(ids)))
    return folder.name


def test_versions_activate_only_when_complete_and_no_worse_and_roll_back(two_models, tmp_path, capsys):
    first_model, second_model = two_models
    versions = DataVersions(tmp_path / "data")
    first = _fill(versions, first_model, ["a", "b", "c"])
    assert first == version_name(model_version(first_model)) and versions.active() is None
    assert versions.activate(first).rows == 3 and versions.active() == first

    second = _fill(versions, second_model, ["a", "b"])  # a re-hash that has not caught up with "c"
    with pytest.raises(LibraryError, match="lacks 1 videos"):
        versions.activate(second)
    assert versions.active() == first
    _fill(versions, second_model, ["c"])
    assert versions.activate(second).rows == 3

    assert main(["index", "versions", str(tmp_path / "data")]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [first, "*"] and listed[1].split()[1] == second

    assert versions.rollback().name == first and versions.active() == first
    update_metadata(second_model, {"default_build": {"real_footage_recall": {"hamming": {"all": {"1": 0.70}}}}})
    worse = DataVersions(tmp_path / "other")
    old, new = _fill(worse, first_model, ["a"]), _fill(worse, second_model, ["a"])
    worse.activate(old)
    with pytest.raises(LibraryError, match="worse than the active"):
        worse.activate(new)
    assert main(["index", "activate", str(tmp_path / "other"), new, "--force"]) == 0
    assert worse.active() == new


def test_activation_needs_an_existing_version_and_rollback_an_earlier_one(tmp_path):
    versions = DataVersions(tmp_path)
    with pytest.raises(LibraryError, match="no version"):
        versions.activate("0123456789abcdef")
    with pytest.raises(LibraryError, match="nothing to roll back"):
        versions.rollback()


def test_a_retrained_model_is_judged_against_its_predecessor_on_the_data_both_were_measured_on(two_models, tmp_path):
    first_model, second_model = two_models
    versions = DataVersions(tmp_path / "data")
    old = _fill(versions, first_model, ["a"])
    versions.activate(old)
    same_data = {"model_version": model_version(first_model), "evaluation": {"map": {"masked": 0.90}}}
    update_metadata(second_model, {"evaluation": {"map": {"masked": 0.85}}, "compared_with": same_data})
    new = _fill(versions, second_model, ["a"])
    assert versions.list()[-1].baseline == {"model_version": model_version(first_model), "figures": {"masked_map": 0.9}}
    with pytest.raises(LibraryError, match="masked_map 0.850 < 0.900"):
        versions.activate(new)


def test_rollback_goes_back_step_by_step_and_the_first_activation_covers_the_unversioned_libraries(
    small_model, tmp_path
):
    models = [copy_model(small_model, tmp_path / "m0")]
    for index in (1, 2):  # each retrained from the one before: three versions
        models.append(retrained_copy(models[-1], tmp_path / f"m{index}"))
    data = tmp_path / "data"
    with Library.create(data / "video", 128, "the model served before versions") as unversioned:
        unversioned.add("online", np.zeros(16, np.uint8), 0, 0)
    versions = DataVersions(data)
    names = [_fill(versions, model, ["a"]) for model in models]
    with pytest.raises(LibraryError, match="lacks 1 videos of the data folder's unversioned libraries"):
        versions.activate(names[0])
    for name in names:
        _fill(versions, models[names.index(name)], ["online"])
        versions.activate(name, force=True)  # the figures of these copies are not what is tested here
    assert versions.active() == names[2]
    assert versions.rollback().name == names[1] and versions.rollback().name == names[0]
    with pytest.raises(LibraryError, match="nothing to roll back to"):
        versions.rollback()
