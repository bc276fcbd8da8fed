"""Where a library's shards are served from when one process is not enough: a small declarative layout.

A layout names *holders*, each serving some pieces of the library: a whole L1 group, or one part of a group
too large for one holder (the group's shards, in manifest order, dealt round-robin to its parts, so shards
appended later keep the parts balanced). One holder also takes every group the layout does not name, so a
group created after the layout was written is still searched. Pieces are resolved against each new manifest
snapshot, which is what lets holders follow appends and compaction without a new layout.

The layout is a JSON file (pydantic-validated); :func:`propose_layout` writes a balanced one from a library's
manifest.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from deephash.errors import LibraryError
from deephash.index.manifest import Manifest


class Piece(BaseModel):
    """Group ``group``'s shards whose ordinal within the group is ``part`` modulo ``parts``."""

    group: int = Field(ge=0)
    part: int = Field(0, ge=0)
    parts: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _part_in_range(self) -> Piece:
        if self.part >= self.parts:
            raise ValueError(f"part {self.part} of group {self.group} must be below parts={self.parts}")
        return self


class HolderSpec(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    pieces: list[Piece] = []
    others: bool = Field(False, description="also serve every group no holder names")
    replicas: int = Field(2, ge=1, le=64)


class Layout(BaseModel):
    library: Path
    holders: list[HolderSpec] = Field(min_length=1)
    deadline_s: float = Field(5.0, gt=0, description="how long the router retries a holder before flagging")
    # a scan is memory-bound: a fraction of a CPU per replica leaves room for replicas on small machines
    replica_cpus: float = Field(0.25, gt=0, description="CPUs Ray reserves for each replica")
    max_replicas_per_node: int | None = Field(
        None, ge=1, description="1 on a cluster: a node's loss then takes at most one replica of each holder"
    )

    @field_validator("library")
    @classmethod
    def _absolute(cls, library: Path) -> Path:
        """Resolved where the layout is read: Ray's workers run in other working directories."""
        return Path(library).resolve()

    @model_validator(mode="after")
    def _covers_every_shard_once(self) -> Layout:
        names = [holder.name for holder in self.holders]
        if len(set(names)) != len(names):
            raise ValueError("holder names must be unique")
        if sum(holder.others for holder in self.holders) != 1:
            raise ValueError("exactly one holder must serve the groups no holder names (others: true)")
        parts: dict[int, set[int]] = defaultdict(set)
        counts: dict[int, set[int]] = defaultdict(set)
        for holder in self.holders:
            for piece in holder.pieces:
                if piece.part in parts[piece.group] and piece.parts in counts[piece.group]:
                    raise ValueError(f"group {piece.group} part {piece.part} is named twice")
                parts[piece.group].add(piece.part)
                counts[piece.group].add(piece.parts)
        for group, declared in counts.items():
            if len(declared) != 1:
                raise ValueError(f"group {group} is split in parts of different counts: {sorted(declared)}")
            (count,) = declared
            if parts[group] != set(range(count)):
                raise ValueError(f"group {group} is split in {count} parts but names {sorted(parts[group])}")
        return self

    @classmethod
    def checked(cls, data: dict, source: str = "layout") -> Layout:
        """``data`` validated, or :class:`LibraryError` naming each problem and where it is."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, problem['loc'])) or 'layout'}: {problem['msg']}" for problem in error.errors()
            )
            raise LibraryError(f"{source}: {problems}") from error

    @classmethod
    def load(cls, path: Path) -> Layout:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise LibraryError(f"layout {path}: {error}") from error
        return cls.checked(data, f"layout {path}")

    def save(self, path: Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    def named_groups(self) -> set[int]:
        return {piece.group for holder in self.holders for piece in holder.pieces}

    def holder_groups(self, manifest: Manifest) -> list[set[int]]:
        """The groups each holder serves shards of in ``manifest`` (``others`` resolved against it)."""
        named = self.named_groups()
        present = {entry.group for entry in manifest.shards}
        return [
            {piece.group for piece in holder.pieces} | (present - named if holder.others else set())
            for holder in self.holders
        ]

    def shards_of(self, holder: str, manifest: Manifest) -> frozenset[str]:
        """The shard files ``holder`` serves in this snapshot."""
        spec = next((spec for spec in self.holders if spec.name == holder), None)
        if spec is None:
            raise LibraryError(f"no holder {holder!r} in the layout")
        named = self.named_groups()
        ordinal: dict[int, int] = defaultdict(int)
        chosen = set()
        for entry in manifest.shards:
            position = ordinal[entry.group]
            ordinal[entry.group] += 1
            unnamed = spec.others and entry.group not in named
            if unnamed or any(p.group == entry.group and position % p.parts == p.part for p in spec.pieces):
                chosen.add(entry.name)
        return frozenset(chosen)


def propose_layout(
    manifest: Manifest, library: Path, holders: int, replicas: int = 2, deadline_s: float = 5.0
) -> Layout:
    """A layout balanced by rows: whole groups where they fit, a group larger than a holder's share split into
    parts (no more than its shards), pieces given largest first to the holder with the fewest rows."""
    if holders < 1:
        raise LibraryError("a layout needs at least one holder")
    rows: dict[int, int] = defaultdict(int)
    shards: dict[int, int] = defaultdict(int)
    for entry in manifest.shards:
        rows[entry.group] += entry.rows
        shards[entry.group] += 1
    share = max(1, math.ceil(sum(rows.values()) / holders))
    pieces: list[tuple[int, Piece]] = []
    for group in sorted(rows):
        count = max(1, min(shards[group], holders, math.ceil(rows[group] / share)))
        pieces += [(rows[group] // count, Piece(group=group, part=part, parts=count)) for part in range(count)]
    assigned: list[list[Piece]] = [[] for _ in range(holders)]
    load = [0] * holders
    for size, piece in sorted(pieces, key=lambda item: (-item[0], item[1].group, item[1].part)):
        # a part never shares a holder with another part of its group, or splitting it would be pointless
        free = [h for h in range(holders) if all(p.group != piece.group for p in assigned[h])]
        least = min(free, key=lambda h: (load[h], h))
        assigned[least].append(piece)
        load[least] += size
    lightest = min(range(holders), key=lambda h: (load[h], h))
    specs = [
        {"name": f"holder-{h}", "pieces": assigned[h], "others": h == lightest, "replicas": replicas}
        for h in range(holders)
    ]
    return Layout.checked({"library": library, "holders": specs, "deadline_s": deadline_s})
