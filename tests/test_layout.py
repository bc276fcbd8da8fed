"""The shard-holder layout: proposals cover every shard exactly once, balanced; hand-written files are validated;
holders follow appends and groups created after the layout."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.cli.main import main
from deephash.errors import LibraryError
from deephash.index import Library
from deephash.index.layout import HolderSpec, Layout, Piece, propose_layout

CAPACITY = 1000


def _add(library: Library, start: int, groups: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"v{start + n}" for n in range(len(groups))]
    library.add_many(ids, rng.integers(0, 256, (len(groups), 16), dtype=np.uint8), groups, np.zeros(len(groups)))


@pytest.fixture
def library(tmp_path):
    """Group 0: 9,000 rows (9 shards), group 1: 2,500, group 2: 1,200, group 3: 300."""
    folder = tmp_path / "lib"
    groups = np.repeat([0, 1, 2, 3], [9000, 2500, 1200, 300])
    with Library.create(folder, 128, "m", shard_capacity=CAPACITY) as created:
        _add(created, 0, groups, 0)
    return folder


def _assignment(layout: Layout, manifest) -> dict[str, str]:
    owner: dict[str, str] = {}
    for spec in layout.holders:
        for name in layout.shards_of(spec.name, manifest):
            assert name not in owner, f"{name} held by {owner[name]} and {spec.name}"
            owner[name] = spec.name
    assert set(owner) == {entry.name for entry in manifest.shards}, "every shard is held"
    return owner


def test_a_proposal_holds_every_shard_once_and_splits_a_group_too_large_for_one_holder(library):
    with Library.open(library) as opened:
        manifest = opened.manifest
        layout = propose_layout(manifest, library, holders=3, replicas=2)
        owner = _assignment(layout, manifest)
    rows = {entry.name: entry.rows for entry in manifest.shards}
    load = {spec.name: sum(rows[name] for name, held in owner.items() if held == spec.name) for spec in layout.holders}
    assert max(load.values()) <= 1.35 * sum(rows.values()) / 3, load
    split = [piece for spec in layout.holders for piece in spec.pieces if piece.group == 0]
    assert len(split) == 3 and {piece.parts for piece in split} == {3}, "group 0 (2/3 of the rows) is split"
    assert sum(spec.others for spec in layout.holders) == 1
    assert all(spec.replicas == 2 for spec in layout.holders)
    assert Layout.model_validate_json(layout.model_dump_json()) == layout  # the file round-trips


def test_holders_follow_appended_shards_and_new_groups(library):
    with Library.open(library) as opened:
        layout = propose_layout(opened.manifest, library, holders=3)
    with Library.open(library, writable=True) as writer:
        _add(writer, 20_000, np.repeat([0, 5], [2500, 700]), 1)  # group 0 grows, group 5 is new
        manifest = writer.manifest
    owner = _assignment(layout, manifest)
    others = next(spec.name for spec in layout.holders if spec.others)
    assert {owner[e.name] for e in manifest.shards if e.group == 5} == {others}
    assert len({owner[e.name] for e in manifest.shards if e.group == 0}) == 3, "the parts keep sharing group 0"
    groups = layout.holder_groups(manifest)
    assert 5 in groups[[spec.name for spec in layout.holders].index(others)]


@pytest.mark.parametrize(
    ("holders", "message"),
    [
        ([HolderSpec(name="a", pieces=[Piece(group=0)])], "exactly one holder"),
        ([HolderSpec(name="a", others=True), HolderSpec(name="a", pieces=[Piece(group=1)])], "unique"),
        (
            [HolderSpec(name="a", others=True, pieces=[Piece(group=0, part=0, parts=2)])],
            "split in 2 parts but names [0]",
        ),
        (
            [
                HolderSpec(name="a", others=True, pieces=[Piece(group=0, part=0, parts=2)]),
                HolderSpec(name="b", pieces=[Piece(group=0, part=1, parts=3)]),
            ],
            "different counts",
        ),
        (
            [HolderSpec(name="a", others=True, pieces=[Piece(group=0)]), HolderSpec(name="b", pieces=[Piece(group=0)])],
            "named twice",
        ),
    ],
)
def test_a_layout_that_would_scan_a_shard_twice_or_never_is_refused(holders, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Layout(library=tmp_path, holders=holders)


def test_the_cli_proposes_a_layout_file_and_a_bad_file_is_refused_by_name(library, tmp_path, capsys):
    out = tmp_path / "layout.json"
    assert main(["index", "layout", str(library), "--holders", "2", "--replicas", "3", "--out", str(out)]) == 0
    layout = Layout.load(out)
    assert [spec.replicas for spec in layout.holders] == [3, 3]
    err = capsys.readouterr().err
    assert "holder-0: groups" in err and "rows; replicas: 3" in err
    out.write_text(out.read_text().replace('"others": true', '"others": false'))
    with pytest.raises(LibraryError, match="layout .*exactly one holder"):
        Layout.load(out)
    assert main(["index", "layout", str(library), "--holders", "2", "--replicas", "0"]) == LibraryError.exit_code
    assert "holders.0.replicas: Input should be greater than or equal to 1" in capsys.readouterr().err


def test_a_relative_library_path_is_resolved_where_the_layout_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout = Layout(library="libs/video", holders=[HolderSpec(name="a", others=True)])
    assert layout.library == tmp_path / "libs" / "video"
