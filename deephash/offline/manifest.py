"""What a bulk job hashes: a manifest of video ids and where each video is.

A manifest is a text file (one path or URI per line, the line being the id, or ``id<TAB>uri``), a CSV or a
Parquet file with ``id`` and ``uri`` columns. A URI is a local path or ``file://``; other schemes (an object
store) get an opener that returns what the sampler reads (a path, bytes or a binary file): registered in the
process with :func:`register_opener`, or declared by an installed package as a ``deephash.uri_openers`` entry
point named after the scheme, which every process (Ray's workers included) finds by itself.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import unquote, urlparse

from deephash.errors import DatasetError, InvalidRequest
from deephash.index.idmap import check_video_id
from deephash.video import VideoSource

URI_OPENERS: dict[str, Callable[[str], VideoSource]] = {}
OPENER_ENTRY_POINTS = "deephash.uri_openers"


@dataclass(frozen=True)
class ManifestEntry:
    video_id: str
    uri: str


def register_opener(scheme: str, opener: Callable[[str], VideoSource]) -> None:
    """Let manifests name videos by ``scheme://...`` URIs: ``opener(uri)`` returns a path, bytes or a file."""
    URI_OPENERS[scheme] = opener


def open_uri(uri: str) -> VideoSource:
    """What the sampler reads for ``uri``: a local path, ``file://`` or a registered scheme."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return unquote(urlparse(uri).path)
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        return uri
    if scheme not in URI_OPENERS:
        declared = entry_points(group=OPENER_ENTRY_POINTS, name=scheme)
        if not declared:
            raise InvalidRequest(f"no opener for {scheme}:// URIs (declare a {OPENER_ENTRY_POINTS} entry point)")
        URI_OPENERS[scheme] = next(iter(declared)).load()
    return URI_OPENERS[scheme](uri)


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Every entry of a ``.txt``, ``.csv`` or ``.parquet`` manifest, ids checked and unique."""
    if not path.is_file():
        raise DatasetError(f"no manifest at {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        rows = _parquet_rows(path)
    elif suffix == ".csv":
        with path.open(newline="") as handle:
            rows = [(row.get("id", ""), row.get("uri", "")) for row in csv.DictReader(handle)]
    else:
        lines = (line.rstrip("\n") for line in path.open())
        rows = [tuple(line.split("\t", 1)) if "\t" in line else (line, line) for line in lines if line.strip()]
    entries, seen = [], set()
    for number, (video_id, uri) in enumerate(rows, start=1):
        try:
            check_video_id(video_id)
        except InvalidRequest as error:
            raise DatasetError(f"{path}, entry {number}: {error}") from None
        if not uri:
            raise DatasetError(f"{path}, entry {number}: no uri for {video_id!r}")
        if video_id in seen:
            raise DatasetError(f"{path}, entry {number}: the id {video_id!r} appears twice")
        seen.add(video_id)
        entries.append(ManifestEntry(video_id, uri))
    return entries


def _parquet_rows(path: Path) -> list[tuple[str, str]]:
    import pyarrow.parquet as parquet

    table = parquet.read_table(path)
    missing = {"id", "uri"} - set(table.column_names)
    if missing:
        raise DatasetError(f"{path} has no column {', '.join(sorted(missing))} (a manifest needs id and uri)")
    return list(zip(table.column("id").to_pylist(), table.column("uri").to_pylist()))
