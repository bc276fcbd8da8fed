"""The release artefact: written with checksums, verified, installed only when its export is the released
model; and the release shipped in the repository is the model the set-up installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from deephash.cli.main import main
from deephash.errors import ModelError
from deephash.model.artifacts import ONNX_FILE, WEIGHTS_FILE, file_sha256, read_metadata, update_metadata
from export.release_files import (
    CHECKSUMS_FILE,
    INSTALL_CHECK,
    RELEASE_DIR,
    SIZE_LIMIT,
    install_release,
    shipped_files,
    verify_release,
    write_release,
)

REPO = Path(__file__).resolve().parents[1]


def test_release_is_written_with_checksums_and_replaces_the_previous_one(small_model, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "old-weights.pt").write_text("a previous release")
    size = write_release(small_model, release)
    assert sorted(path.name for path in release.iterdir()) == sorted([*shipped_files(release), CHECKSUMS_FILE])
    assert size == sum((release / name).stat().st_size for name in shipped_files(release)) <= SIZE_LIMIT
    assert ONNX_FILE not in shipped_files(release)  # re-made and checked at install
    line = f"{file_sha256(release / WEIGHTS_FILE)}  {WEIGHTS_FILE}"
    assert line in (release / CHECKSUMS_FILE).read_text().splitlines()  # the format `sha256sum -c` reads
    assert verify_release(release) == read_metadata(small_model)["model_version"]


def test_a_damaged_or_incomplete_release_is_refused_by_name(small_model, tmp_path):
    release = tmp_path / "release"
    write_release(small_model, release)
    with (release / WEIGHTS_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match=f"{WEIGHTS_FILE} does not match its checksum"):
        verify_release(release)
    write_release(small_model, release)
    (release / "mask.npz").unlink()
    with pytest.raises(ModelError, match="mask.npz is missing"):
        verify_release(release)
    with pytest.raises(ModelError, match="SHA256SUMS missing"):
        verify_release(tmp_path / "nowhere")


def test_install_exports_the_released_model_and_replaces_the_old_one(small_model, tmp_path):
    release, out = tmp_path / "release", tmp_path / "installed"
    write_release(small_model, release)
    out.mkdir()
    (out / "stale.onnx").write_text("another model")
    version = install_release(release, out)
    assert file_sha256(out / ONNX_FILE) == version == read_metadata(small_model)["model_version"]
    assert not (out / "stale.onnx").exists()


def test_install_refuses_an_export_that_is_not_the_released_model_and_keeps_the_old_one(small_model, tmp_path):
    model, release, out = tmp_path / "model", tmp_path / "release", tmp_path / "installed"
    for name in shipped_files(small_model):
        (model / name).parent.mkdir(exist_ok=True)
        (model / name).write_bytes((small_model / name).read_bytes())
    update_metadata(model, {"model_version": "0" * 64})  # as if the weights exported differently here
    write_release(model, release)
    out.mkdir()
    (out / ONNX_FILE).write_text("the model in use")
    with pytest.raises(ModelError, match="not the released model"):
        install_release(release, out)
    assert (out / ONNX_FILE).read_text() == "the model in use"


@pytest.mark.slow  # the installer measures batch sizes for real
def test_cli_installs_once_then_has_nothing_to_do(small_model, tmp_path, capsys):
    release, out = tmp_path / "release", tmp_path / "installed"
    write_release(small_model, release)
    arguments = ["install-default", "--release", str(release), "--out", str(out), "--no-check"]
    assert main(arguments) == 0
    assert "installed model" in capsys.readouterr().out and (out / "batching.json").is_file()
    assert main(arguments) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_the_shipped_release_is_the_installed_default_model(default_model):
    release = REPO / RELEASE_DIR
    version = verify_release(release)
    assert sum((release / name).stat().st_size for name in shipped_files(release)) <= SIZE_LIMIT
    assert file_sha256(default_model / ONNX_FILE) == version
    check = read_metadata(default_model)["install_check"]
    assert abs(check["measured"]["all"] - check["recorded"]["all"]) <= check["tolerance"]


@pytest.mark.slow  # the installer measures batch sizes for real
def test_a_release_carries_no_install_check_so_installing_without_one_is_not_taken_for_checked(small_model, tmp_path):
    model, release, out = tmp_path / "model", tmp_path / "release", tmp_path / "installed"
    model.mkdir()
    for name in shipped_files(small_model):
        (model / name).write_bytes((small_model / name).read_bytes())
    update_metadata(model, {INSTALL_CHECK: {"recorded": {"all": 0.9}, "measured": {"all": 0.9}}})
    write_release(model, release)
    assert INSTALL_CHECK not in read_metadata(release)
    assert INSTALL_CHECK not in read_metadata(REPO / RELEASE_DIR)
    assert main(["install-default", "--release", str(release), "--out", str(out), "--no-check"]) == 0
    assert INSTALL_CHECK not in read_metadata(out)
