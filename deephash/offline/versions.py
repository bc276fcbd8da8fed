"""Library versions in a data folder: one set of libraries per model version and a pointer to the active one.

::

    DATA/versions/<name>/video, audio     the libraries of one model version (name: its first 16 hex digits)
    DATA/versions/<name>/version.json     which model, made when, and the model's recorded figures
    DATA/active                           the name of the version the service serves (replaced atomically)
    DATA/activations.jsonl                every activation, so a rollback knows what was active before

Codes of two model versions are not comparable, so a version is never mixed with another: a re-hash writes a
new version beside the active one, and activation swaps the pointer. Activation refuses a version that does
not hold every video of the active one (or, the first time, of the data folder's unversioned libraries: the
adds that arrived while it was being made; hash them into it first) or whose model did worse on the figures
both models recorded (a retrained model: on the data it was compared with its predecessor on), unless forced.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from deephash.errors import LibraryError, StorageFailure, UnknownVersion, VersionRefused
from deephash.index import Library
from deephash.index.manifest import MANIFEST_FILE
from deephash.model.artifacts import model_version, read_metadata

VERSIONS_DIR, ACTIVE_FILE, HISTORY_FILE, VERSION_FILE = "versions", "active", "activations.jsonl", "version.json"
FIGURE_TOLERANCE = 0.005  # a new model may be this much below the active one on a recorded recall


@dataclass(frozen=True)
class VersionInfo:
    name: str
    model_version: str
    model_dir: str
    created: float
    figures: dict[str, float]
    baseline: dict  # a retrained model's predecessor measured on the same data as it (empty otherwise)
    rows: int
    active: bool


def version_name(model_version_hex: str) -> str:
    return model_version_hex[:16]


def model_figures(model_dir: Path) -> tuple[dict[str, float], dict]:
    """The figures a model recorded that activation compares (real-footage recall@1 of its build, masked mAP
    of its evaluation), and, for a retrained model, the figures of the model it started from measured on the
    same data (``{"model_version": ..., "figures": ...}``, else empty)."""
    metadata = read_metadata(model_dir)
    figures = _evaluation_figures(metadata.get("evaluation", {}))
    real = metadata.get("default_build", {}).get("real_footage_recall", {}).get("hamming", {}).get("all", {})
    if "1" in real:
        figures["real_footage_recall_at_1"] = real["1"]
    previous = metadata.get("compared_with")
    baseline = {}
    if previous:
        baseline = {"model_version": previous["model_version"], "figures": _evaluation_figures(previous["evaluation"])}
    return figures, baseline


def _evaluation_figures(evaluation: dict) -> dict[str, float]:
    masked = evaluation.get("map", {}).get("masked")
    return {} if masked is None else {"masked_map": masked}


class DataVersions:
    """The versions of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def folder(self, name: str) -> Path:
        return self.data_dir / VERSIONS_DIR / name

    def prepare(self, model_dir: Path) -> Path:
        """The folder of ``model_dir``'s version (made, with its ``version.json``, if new)."""
        version = model_version(model_dir)
        folder = self.folder(version_name(version))
        if not (folder / VERSION_FILE).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            figures, baseline = model_figures(model_dir)
            record = {
                "model_version": version,
                "model_dir": str(Path(model_dir).resolve()),
                "created": time.time(),
                "figures": figures,
                "baseline": baseline,
            }
            _write_atomically(folder / VERSION_FILE, json.dumps(record, indent=2))
        return folder

    def active(self) -> str | None:
        path = self.data_dir / ACTIVE_FILE
        return path.read_text().strip() if path.is_file() else None

    def active_folder(self) -> Path | None:
        name = self.active()
        return None if name is None else self.folder(name)

    def served(self, default_model: Path) -> tuple[Path, Path]:
        """(model folder, libraries folder) a service of this data folder serves: the active version and its
        model, or, in a data folder without versions, ``default_model`` over the folder itself."""
        name = self.active()
        if name is None:
            return Path(default_model), self.data_dir
        return Path(self.info(name).model_dir), self.folder(name)

    def info(self, name: str) -> VersionInfo:
        folder = self.folder(name)
        if not (folder / VERSION_FILE).is_file():
            known = ", ".join(info.name for info in self.list()) or "none"
            raise UnknownVersion(f"no version {name!r} in {self.data_dir} (versions: {known})")
        return _read_version(folder, self.active())

    def list(self) -> list[VersionInfo]:
        root, active = self.data_dir / VERSIONS_DIR, self.active()
        folders = sorted(root.iterdir()) if root.is_dir() else []
        found = [_read_version(folder, active) for folder in folders if (folder / VERSION_FILE).is_file()]
        return sorted(found, key=lambda info: info.created)

    def activate(self, name: str, force: bool = False, rollback: bool = False) -> VersionInfo:
        """Point ``active`` at version ``name`` after the checks of the module docstring. The activation is
        recorded before the pointer moves, so the record of the active version always exists."""
        target, current = self.info(name), self.active()
        if not force and current != name:
            if current is not None:
                self._check_replacement(self.info(current), target)
            elif (self.data_dir / "video" / MANIFEST_FILE).is_file():  # the unversioned libraries served so far
                self._check_coverage(self.data_dir / "video", "the data folder's unversioned libraries", name)
        with Library.open(self.folder(name) / "video") as library:
            problems = library.verify()
        if problems:
            raise VersionRefused(f"version {name} does not verify: {problems[0]}")
        record = {"active": name, "previous": current, "at": time.time(), "forced": force, "rollback": rollback}
        try:
            with (self.data_dir / HISTORY_FILE).open("a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            _write_atomically(self.data_dir / ACTIVE_FILE, name + "\n")
        except OSError as error:
            raise StorageFailure(f"activating {name} in {self.data_dir} failed: {error}") from error
        return replace(target, active=True)

    def rollback(self) -> VersionInfo:
        """Activate the version that was active before the current one was (its figures and the videos added
        since are not checked: a rollback is what an operator does when the current version is bad). Rolling
        back twice goes two versions back, not forth again."""
        current = self.active()
        history = self.data_dir / HISTORY_FILE
        lines = history.read_text().splitlines() if current and history.is_file() else []
        for line in reversed(lines):
            try:
                record = json.loads(line)
            except ValueError:  # a torn last line: that activation never moved the pointer
                continue
            if record["active"] == current and not record.get("rollback") and record["previous"] not in (None, current):
                return self.activate(record["previous"], force=True, rollback=True)
        raise VersionRefused(f"nothing to roll back to in {self.data_dir}: no earlier version was active")

    def _check_replacement(self, current: VersionInfo, new: VersionInfo) -> None:
        self._check_coverage(self.folder(current.name) / "video", f"the active {current.name}", new.name)
        same_data = new.baseline.get("model_version") == current.model_version
        reference = new.baseline["figures"] if same_data else current.figures
        worse = {
            figure: (reference[figure], value)
            for figure, value in new.figures.items()
            if figure in reference and value < reference[figure] - FIGURE_TOLERANCE
        }
        if worse:
            details = ", ".join(f"{name} {new_value:.3f} < {old:.3f}" for name, (old, new_value) in worse.items())
            raise VersionRefused(f"the model of version {new.name} is worse than the active one's: {details}; --force")

    def _check_coverage(self, served: Path, what: str, name: str) -> None:
        """Refuse version ``name`` when it lacks videos of the libraries at ``served``."""
        with Library.open(served) as old, Library.open(self.folder(name) / "video") as fresh:
            ids, chunk = list(old.video_ids()), 1 << 16
            missing = [
                video for start in range(0, len(ids), chunk) for video in _missing(fresh, ids[start : start + chunk])
            ]
        if missing:
            raise VersionRefused(
                f"version {name} lacks {len(missing)} videos of {what} (e.g. {missing[:3]}): hash them into it "
                "(bulk-hash with a manifest that names them) or --force"
            )


def _missing(library: Library, video_ids: list[str]) -> list[str]:
    """Those of ``video_ids`` that ``library`` lacks (one lookup for all)."""
    found = library.get_many(video_ids)
    return [video_id for video_id in video_ids if video_id not in found]


def _read_version(folder: Path, active: str | None) -> VersionInfo:
    record = json.loads((folder / VERSION_FILE).read_text())
    return VersionInfo(folder.name, **record, rows=_rows(folder), active=folder.name == active)


def _rows(folder: Path) -> int:
    try:
        with Library.open(folder / "video") as library:
            return len(library)
    except LibraryError:  # a version whose libraries are not made yet
        return 0


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old or the new content, never a torn file, even across a crash."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
