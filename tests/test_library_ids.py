"""Video ids stored in the shards: any valid id round-trips, shards fill by id text as well as by rows, and
lookups by id stay exact for the writer and for readers while rows are appended, replaced and compacted."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from deephash.cli.main import main
from deephash.errors import LibraryError
from deephash.index import Library
from deephash.index.shard import TEXT_BYTES_PER_ROW

IDS = ["a", "é" * 128, "x" * 256, "视频-42", "v 1", "0", "🎬" * 64, "a" * 255]


def codes_for(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 16), dtype=np.uint8)


def test_any_valid_id_round_trips_through_add_search_compaction_and_backup(tmp_path):
    codes = codes_for(len(IDS))
    with Library.create(tmp_path / "lib", 128, "m", shard_capacity=3) as library:
        library.add_many(IDS, codes, np.zeros(len(IDS)), np.arange(len(IDS)))
        library.add_many(IDS[:2], codes_for(2, seed=1), np.ones(2), np.arange(2))  # replaced, into group 1
        expected = {video: (codes_for(2, seed=1)[i] if i < 2 else codes[i]) for i, video in enumerate(IDS)}
        for video, code in expected.items():
            assert np.array_equal(library.get(video).code, code)
            assert library.search(code, k=1)[0][0].video_id == video
        assert sorted(library.video_ids()) == sorted(IDS)
        library.compact()
        assert library.verify() == [] and sorted(library.video_ids()) == sorted(IDS)
        library.backup(tmp_path / "copy")
    with Library.open(tmp_path / "copy") as copy:
        assert copy.verify() == []
        for video, code in expected.items():
            assert np.array_equal(copy.get(video).code, code) and copy.search(code, k=1)[0][0].video_id == video


def test_a_shard_is_full_when_its_id_text_is(tmp_path):
    capacity = 8  # id text for 8 x 48 bytes: three ids of 200 bytes fill it before its rows do
    ids = [f"{n:0200d}" for n in range(10)]
    codes = codes_for(10)
    with Library.create(tmp_path / "lib", 128, "m", shard_capacity=capacity) as library:
        library.add_many(ids, codes, np.zeros(10), np.zeros(10))
        per_shard = [entry.rows for entry in library.manifest.shards]
        assert max(per_shard) == capacity * TEXT_BYTES_PER_ROW // 200 and sum(per_shard) == 10
        assert all(np.array_equal(library.get(video).code, code) for video, code in zip(ids, codes))
        assert library.verify() == []


def test_readers_find_ids_appended_replaced_and_removed_after_they_opened(tmp_path):
    """The writer's and a reader's id tables grow with the rows (rebuilt larger many times over)."""
    folder = tmp_path / "lib"
    rng = np.random.default_rng(3)
    live: dict[str, np.ndarray] = {}
    with Library.create(folder, 128, "m", shard_capacity=5000) as writer, Library.open(folder) as reader:
        for step in range(40):
            new = [f"step{step}-{n}" for n in range(int(rng.integers(1, 300)))]
            again = list(rng.choice(sorted(live), min(len(live), 20), replace=False)) if live else []
            batch = new + again
            codes = codes_for(len(batch), seed=step)
            writer.add_many(batch, codes, rng.integers(0, 3, len(batch)), np.zeros(len(batch)))
            live.update(zip(batch, codes))
            if step % 5 == 4:
                gone = sorted(live)[step]
                assert writer.remove(gone)
                del live[gone]
            assert new[0] not in reader  # not yet: the reader's snapshot is older
            reader.refresh()
            for video in [*new[:3], *again[:3], *rng.choice(sorted(live), 10)]:
                assert np.array_equal(reader.get(video).code, live[video])
                assert np.array_equal(writer.get(video).code, live[video])
        assert len(reader) == len(live) and set(reader.video_ids()) == set(live)
        assert all(video in reader for video in live) and "step0-0x" not in reader
        writer.compact()
        reader.refresh()
        assert all(np.array_equal(reader.get(video).code, code) for video, code in live.items())
        assert writer.verify() == []


def write_format1_library(folder, capacity: int = 16) -> dict[str, tuple[np.ndarray, int, int]]:
    """A library as format 1 wrote it (ids in ids.sqlite, a key column in the shards), with a tombstoned row, a
    pending tombstone and an unacknowledged tail row; returns the live videos (code, l1, l2) it holds."""
    (folder / "shards").mkdir(parents=True)
    ids = sqlite3.connect(folder / "ids.sqlite")
    ids.executescript("CREATE TABLE keys (key INTEGER PRIMARY KEY, video_id TEXT UNIQUE NOT NULL);")
    live, shards, key = {}, [], 0
    for group in (0, 2):
        name = f"g{group:05d}-{group:06d}.shard"
        codes, keys, l2 = codes_for(capacity, seed=group), np.zeros(capacity, np.int64), np.zeros(capacity, np.int16)
        deleted = np.zeros(capacity, np.uint8)
        for row in range(6):  # rows 0-4 acknowledged, 5 an unacknowledged tail
            key += 1
            keys[row], l2[row] = key, 10 * group + row
            ids.execute("INSERT INTO keys VALUES (?, ?)", (key, f"video-{group}-{row}"))
            if row < 3:
                live[f"video-{group}-{row}"] = (codes[row], group, 10 * group + row)
        deleted[3] = 1  # row 4 is the manifest's pending tombstone
        header = json.dumps(
            {"magic": "deephash-shard", "format": 1, "code_bytes": 16, "capacity": capacity, "group": group}
        )
        columns = [
            codes.tobytes(),
            b"\0" * (-(4096 + capacity * 16) % 8),
            keys.tobytes(),
            l2.tobytes(),
            deleted.tobytes(),
        ]
        (folder / "shards" / name).write_bytes(header.encode().ljust(4096, b"\0") + b"".join(columns))
        shards.append({"name": name, "group": group, "rows": 5, "deleted": 2, "checksum": [0, 0, 0]})
    ids.commit()
    ids.close()
    manifest = {"code_bits": 128, "model_version": "old-model", "shard_capacity": capacity, "generation": 7,
                "next_shard": 3, "shards": shards, "format": 1,
                "pending_tombstones": [[entry["name"], 4] for entry in shards]}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return live


def test_a_format1_library_is_upgraded_with_exactly_its_live_rows(tmp_path, capsys):
    live = write_format1_library(tmp_path / "old")
    with pytest.raises(LibraryError, match="deephash index upgrade"):
        Library.open(tmp_path / "old")
    assert main(["index", "upgrade", str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    assert "copied 6 live rows" in capsys.readouterr().out
    with Library.open(tmp_path / "new") as library:
        assert library.verify() == [] and sorted(library.video_ids()) == sorted(live)
        assert library.manifest.model_version == "old-model"
        for video, (code, l1, l2) in live.items():
            stored = library.get(video)
            assert np.array_equal(stored.code, code) and (stored.l1, stored.l2) == (l1, l2)
    assert main(["index", "upgrade", str(tmp_path / "old"), str(tmp_path / "new")]) == LibraryError.exit_code
    assert "exists already" in capsys.readouterr().err


def test_an_upgrade_refuses_ids_format2_cannot_store_and_writes_nothing(tmp_path, capsys):
    write_format1_library(tmp_path / "old")
    with sqlite3.connect(tmp_path / "old" / "ids.sqlite") as ids:
        ids.execute("UPDATE keys SET video_id = ? WHERE video_id = 'video-0-1'", ("y" * 300,))
        ids.execute("UPDATE keys SET video_id = ? WHERE video_id = 'video-2-3'", ("tab\there",))  # tombstoned
    assert main(["index", "upgrade", str(tmp_path / "old"), str(tmp_path / "new")]) == LibraryError.exit_code
    error = capsys.readouterr().err
    assert "1 video ids that format 2 cannot store" in error and "yyyy" in error
    assert not (tmp_path / "new").exists() and not (tmp_path / "new.partial").exists()


def test_a_data_folder_is_upgraded_in_place_and_an_interrupted_swap_is_finished(tmp_path, capsys):
    data = tmp_path / "data"
    live = write_format1_library(data / "video")
    write_format1_library(data / "versions" / "abc" / "audio")
    assert main(["index", "upgrade", str(data)]) == 0
    assert capsys.readouterr().out.count("upgraded ") == 2
    for folder in (data / "video", data / "versions" / "abc" / "audio"):
        assert (folder.parent / (folder.name + ".format1") / "ids.sqlite").is_file()
        with Library.open(folder) as library:
            assert library.verify() == [] and sorted(library.video_ids()) == sorted(live)
    assert main(["index", "upgrade", str(data)]) == 0
    assert "nothing to upgrade" in capsys.readouterr().out
    # runs stopped between their two renames: the old library moved aside, the new one not yet in place
    (data / "video").rename(data / "video.format2")
    assert main(["index", "upgrade", str(data / "video")]) == 0
    (data / "video").rename(data / "video.format2")
    assert main(["index", "upgrade", str(data)]) == 0  # found in a data folder too
    with Library.open(data / "video") as library:
        assert sorted(library.video_ids()) == sorted(live)


def test_an_in_place_upgrade_stopped_after_its_copy_is_made_again(tmp_path):
    live = write_format1_library(tmp_path / "video")
    (tmp_path / "video.format2").mkdir()  # a copy left by a run stopped before its renames
    (tmp_path / "video.format2" / "stale").write_text("")
    assert main(["index", "upgrade", str(tmp_path / "video")]) == 0
    with Library.open(tmp_path / "video") as library:
        assert library.verify() == [] and sorted(library.video_ids()) == sorted(live)
    assert not (tmp_path / "video.format2").exists() and (tmp_path / "video.format1").is_dir()
