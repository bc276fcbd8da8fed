"""What the service answers from: one library version and the model that made its codes, opened at start and
on each activation (``DATA/versions``, :mod:`deephash.offline.versions`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deephash.catalog import Catalog
from deephash.errors import IncompatibleLibrary
from deephash.model.artifacts import model_version
from deephash.offline.versions import DataVersions, VersionInfo
from deephash.video import VideoLimits


@dataclass(frozen=True)
class Served:
    catalog: Catalog
    model_dir: Path
    name: str | None  # the version's name; None for a data folder without versions


def open_served(data: Path, default_model: Path, limits: VideoLimits, fixed_model: str | None) -> Served:
    """The active version of ``data`` (or its unversioned libraries, with ``default_model``). ``fixed_model``:
    the only model version the service can hash with (Triton serves one model), or None."""
    versions = DataVersions(data)
    model_dir, libraries = versions.served(default_model)
    name = versions.active()
    _check_model(model_dir, name, fixed_model)
    return Served(Catalog(model_dir, libraries, limits), model_dir, name)


def activate_version(
    data: Path, name: str, limits: VideoLimits, force: bool, fixed_model: str | None
) -> tuple[Served, VersionInfo]:
    """Open version ``name``'s libraries, then make it the active one (refused as ``DataVersions.activate``
    refuses)."""
    versions = DataVersions(data)
    info = versions.info(name)
    model_dir = Path(info.model_dir)
    _check_model(model_dir, name, fixed_model)
    served = Served(Catalog(model_dir, versions.folder(name), limits), model_dir, name)
    try:
        return served, versions.activate(name, force)
    except BaseException:
        served.catalog.close()
        raise


def _check_model(model_dir: Path, name: str | None, fixed_model: str | None) -> None:
    if fixed_model is None:
        return
    version = model_version(model_dir)
    if version != fixed_model:
        raise IncompatibleLibrary(
            f"version {name} holds codes of model {version[:12]}, and the Triton this service "
            f"calls serves {fixed_model[:12]}: serve that version with a Triton serving its model"
        )
