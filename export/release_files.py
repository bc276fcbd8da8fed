"""The default model as a release artefact in the repository: written once by ``build-default --full``,
verified and installed by the README's set-up.

A release holds what hashing, export and further training need and nothing a machine can re-make:
the PyTorch weights, config, labels, mask and the figures of its build. ``model.onnx`` is not shipped: the
export is byte-for-byte reproducible with the pinned torch, so the set-up re-exports it and checks that its
sha256 is the recorded model version, which proves the installed model is the released one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from deephash.decision import DECISION_FILE
from deephash.errors import ModelError
from deephash.model.artifacts import (
    CONFIG_FILE,
    MASK_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    file_sha256,
    load_config,
    read_metadata,
)
from deephash.model.config import LABELS_FILE
from export.onnx_model import export_model_onnx

RELEASE_DIR = Path("release/default-model")
SHIPPED_FILES = (CONFIG_FILE, LABELS_FILE, WEIGHTS_FILE, MASK_FILE, METADATA_FILE)
CHECKSUMS_FILE = "SHA256SUMS"  # `sha256sum -c SHA256SUMS` verifies a release by hand
INSTALL_CHECK = "install_check"  # the installer's re-measurement on the machine it ran on: never shipped
# a release lives in git: every release adds its size to each clone's history (the verification descriptor's int8
# planes are ~15 MiB of the ~52)
SIZE_LIMIT = 56 * 1024 * 1024


def shipped_files(model_dir: Path) -> tuple[str, ...]:
    """What a release of the model in ``model_dir`` holds: :data:`SHIPPED_FILES`, and the duplicate decision of a
    model with a verification descriptor."""
    return SHIPPED_FILES + ((DECISION_FILE,) if load_config(model_dir).verify_dims else ())


def write_release(model_dir: Path, release_dir: Path = RELEASE_DIR) -> int:
    """Replace ``release_dir`` with the shipped files of ``model_dir`` and their checksums; its size in bytes."""
    if not (model_dir / CONFIG_FILE).is_file():
        raise ModelError(f"{model_dir} is not a complete model: {CONFIG_FILE} missing")
    shipped = shipped_files(model_dir)
    missing = [name for name in shipped if not (model_dir / name).is_file()]
    if missing:
        raise ModelError(f"{model_dir} is not a complete model: {', '.join(missing)} missing")
    size = sum((model_dir / name).stat().st_size for name in shipped)
    if size > SIZE_LIMIT:
        raise ModelError(f"a release of {size / 2**20:.1f} MiB is over the limit of {SIZE_LIMIT / 2**20:.0f} MiB")
    if "model_version" not in read_metadata(model_dir):
        raise ModelError(f"{model_dir} has no recorded model version: export it before releasing it")
    staging = release_dir.with_name(release_dir.name + ".writing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in shipped:
        shutil.copy2(model_dir / name, staging / name)
    _drop_install_check(staging)
    lines = [f"{file_sha256(staging / name)}  {name}\n" for name in shipped]
    (staging / CHECKSUMS_FILE).write_text("".join(lines))
    shutil.rmtree(release_dir, ignore_errors=True)  # one release in the tree, never a pile of old ones
    staging.rename(release_dir)
    return size


def _drop_install_check(folder: Path) -> None:
    """A release carries the figures of its build, never a check that passed on some machine: the installer
    would take that copy for its own and skip re-measuring."""
    metadata = read_metadata(folder)
    if metadata.pop(INSTALL_CHECK, None) is not None:
        (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))


def verify_release(release_dir: Path = RELEASE_DIR) -> str:
    """Check every shipped file against ``SHA256SUMS``; the model version the release records."""
    sums = release_dir / CHECKSUMS_FILE
    if not sums.is_file():
        raise ModelError(f"no release at {release_dir} ({CHECKSUMS_FILE} missing)")
    expected = dict(reversed(line.split(maxsplit=1)) for line in sums.read_text().splitlines() if line.strip())
    if CONFIG_FILE not in expected or not (release_dir / CONFIG_FILE).is_file():
        raise ModelError(f"{sums} lists no {CONFIG_FILE}, or it is missing")
    shipped = shipped_files(release_dir)
    if set(expected) != set(shipped):
        raise ModelError(f"{sums} lists {sorted(expected)}, this release ships {sorted(shipped)}")
    for name, digest in expected.items():
        path = release_dir / name
        if not path.is_file():
            raise ModelError(f"{path} is missing from the release")
        if file_sha256(path) != digest:
            raise ModelError(
                f"{path} does not match its checksum (a partial checkout, or Git LFS/line-ending filters?)"
            )
    version = read_metadata(release_dir).get("model_version")
    if not version:
        raise ModelError(f"{release_dir / METADATA_FILE} records no model version")
    return version


def install_release(release_dir: Path, model_dir: Path) -> str:
    """Verify the release, copy it, export its ONNX file and check that file is the released model; only then
    replace whatever model ``model_dir`` held. Returns the model version."""
    version = verify_release(release_dir)
    staging = model_dir.with_name(model_dir.name + ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in shipped_files(release_dir):
        shutil.copy2(release_dir / name, staging / name)
    exported = export_model_onnx(staging)
    if exported != version:
        raise ModelError(
            f"the ONNX export made here ({exported[:12]}) is not the released model ({version[:12]}): "
            "install the pinned torch (README) and try again"
        )
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)
    return version
