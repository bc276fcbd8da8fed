"""``deephash index versions|activate|rollback DATA``: the library versions of a data folder."""

from __future__ import annotations

import datetime
from pathlib import Path

from deephash.offline.versions import DataVersions


def add_actions(actions) -> None:
    versions = actions.add_parser(
        "versions",
        help="the library versions of a data folder (one per model version) and which one is active",
    )
    versions.add_argument("data", type=Path, help="data folder")
    versions.set_defaults(run=run_versions)

    activate = actions.add_parser(
        "activate",
        help="make a library version the one a service started on DATA serves",
        description="Point DATA/active at version NAME. Refused (unless --force) when NAME lacks videos of the "
        "active version (hash the adds made meanwhile into it first), when its model did worse on the figures "
        "both models recorded, or when its video library does not verify. A service already running on DATA "
        "switches when told (POST /activate, admin), not by this command: activate through it instead.",
    )
    activate.add_argument("data", type=Path, help="data folder")
    activate.add_argument("name", help="version name (see `deephash index versions`)")
    activate.add_argument("--force", action="store_true", help="skip the coverage and figure checks")
    activate.set_defaults(run=run_activate)

    rollback = actions.add_parser(
        "rollback",
        help="activate the version that was active before the current one (videos added since are not in it)",
    )
    rollback.add_argument("data", type=Path, help="data folder")
    rollback.set_defaults(run=run_rollback)


def run_versions(args) -> int:
    found = DataVersions(args.data).list()
    if not found:
        print(f"no versions in {args.data}")
    for info in found:
        created = datetime.datetime.fromtimestamp(info.created).isoformat(timespec="seconds")
        figures = ", ".join(f"{name} {value:.3f}" for name, value in info.figures.items()) or "no recorded figures"
        marker = "*" if info.active else " "
        print(f"{marker} {info.name}  {info.rows:>10} videos  made {created}  model {info.model_dir}  ({figures})")
    return 0


def run_activate(args) -> int:
    info = DataVersions(args.data).activate(args.name, force=args.force)
    print(f"active: {info.name} ({info.rows} videos, model {info.model_version[:12]})")
    return 0


def run_rollback(args) -> int:
    info = DataVersions(args.data).rollback()
    print(f"rolled back; active: {info.name} ({info.rows} videos, model {info.model_version[:12]})")
    return 0
