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


def open_served(data: Path, default_model: Path, limits: VideoLimits) -> Served:
    """The active version of ``data`` (or its unversioned libraries, with ``default_model``)."""
    model_dir, libraries = DataVersions(data).served(default_model)
    return Served(Catalog(model_dir, libraries, limits), model_dir)


def activate_version(
    data: Path, name: str, limits: VideoLimits, force: bool, fixed_model: str | None = None
) -> tuple[Served, VersionInfo]:
    """Open version ``name``'s libraries, then make it the active one (refused as ``DataVersions.activate``
    refuses). ``fixed_model``: the only model version the service can run (Triton serves one model)."""
    versions = DataVersions(data)
    info = versions.info(name)
    model_dir = Path(info.model_dir)
    if fixed_model is not None and model_version(model_dir) != fixed_model:
        raise IncompatibleLibrary(
            f"version {name} holds codes of model {info.model_version[:12]}, and the Triton this service calls "
            f"serves {fixed_model[:12]}: restart the service against a Triton serving that model"
        )
    served = Served(Catalog(model_dir, versions.folder(name), limits), model_dir)
    try:
        return served, versions.activate(name, force)
    except BaseException:
        served.catalog.close()
        raise
