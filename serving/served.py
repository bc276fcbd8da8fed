"""What the service answers from: one library version and the model that made its codes, opened at start and
on each activation (``DATA/versions``, :mod:`deephash.offline.versions`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deephash.catalog import Catalog
from deephash.errors import IncompatibleLibrary
from deephash.model.artifacts import model_version
from deephash.offline.versions import DataVersions, VersionInfo
from serving.settings import ServiceSettings


@dataclass(frozen=True)
class Served:
    catalog: Catalog
    model_dir: Path
    name: str | None  # the version's name; None for a data folder without versions


def open_served(settings: ServiceSettings, fixed_model: str | None) -> Served:
    """The active version of the settings' data folder (or its unversioned libraries, with their model).
    ``fixed_model``: the only model version the service can hash with (Triton serves one model), or None."""
    versions = DataVersions(settings.data)
    model_dir, libraries = versions.served(settings.model)
    name = versions.active()
    _check_model(model_dir, name, fixed_model)
    return Served(_catalog(settings, model_dir, libraries), model_dir, name)


def activate_version(
    settings: ServiceSettings, name: str, force: bool, fixed_model: str | None
) -> tuple[Served, VersionInfo]:
    """Open version ``name``'s libraries, then make it the active one (refused as ``DataVersions.activate``
    refuses). With the Ray search backend, deploy the search application of the new version's library first: a
    search answered from another library is refused (409)."""
    versions = DataVersions(settings.data)
    info = versions.info(name)
    model_dir = Path(info.model_dir)
    _check_model(model_dir, name, fixed_model)
    served = Served(_catalog(settings, model_dir, versions.folder(name)), model_dir, name)
    try:
        return served, versions.activate(name, force)
    except BaseException:
        served.catalog.close()
        raise


def _catalog(settings: ServiceSettings, model_dir: Path, libraries: Path | None) -> Catalog:
    return Catalog(model_dir, libraries, settings.video_limits, settings.video_search())


def _check_model(model_dir: Path, name: str | None, fixed_model: str | None) -> None:
    if fixed_model is None:
        return
    version = model_version(model_dir)
    if version != fixed_model:
        raise IncompatibleLibrary(
            f"version {name} holds codes of model {version[:12]}, and the Triton this service "
            f"calls serves {fixed_model[:12]}: serve that version with a Triton serving its model"
        )
