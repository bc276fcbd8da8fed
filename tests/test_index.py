"""The code library: exact search (NumPy reference, FAISS), idempotent writes, reopen, compaction."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.errors import IncompatibleLibrary, InvalidRequest, LibraryError, UnknownVideoId
from deephash.index import Library, masked_topk, reference_topk

BITS = 128


def random_codes(rng, count, bits=BITS):
    return rng.integers(0, 256, (count, bits // 8), dtype=np.uint8)


@pytest.mark.parametrize("count", [0, 1, 7, 2048, 20011])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bits", [64, 128, 256])
def test_scan_equals_brute_force(count, masked, bits):
    rng = np.random.default_rng(count)
    codes = random_codes(rng, count, bits)
    deleted = (rng.random(count) < 0.05).astype(np.uint8)
    queries = random_codes(rng, 5, bits)
    masks = random_codes(rng, 5, bits) if masked else None
    exclude = np.array([0, -1, 3, -1, 5]) if count > 5 else None
    for k, radius in ((1, None), (10, None), (50, 60), (3, 0)):
        fast = masked_topk(codes, deleted, queries, masks, k, radius, exclude)
        slow = reference_topk(codes, deleted, queries, masks, k, radius, exclude)
        assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


def test_ties_are_broken_by_row():
    codes = np.zeros((100, 16), dtype=np.uint8)
    rows, distances = masked_topk(codes, np.zeros(100, np.uint8), codes[:1], None, 5)
    assert rows.tolist() == [[0, 1, 2, 3, 4]] and distances.tolist() == [[0] * 5]


def test_scan_kernel_vectorises_the_popcount_without_gathers():
    """Guards the scan's speed by its compiled form, not a timing: with AVX-512 VPOPCNTDQ the block loop must
    count bits eight lanes at a time from contiguous loads (numba's negative-index handling once turned them
    into gathers, four times slower)."""
    with open("/proc/cpuinfo") as cpuinfo:
        if "avx512_vpopcntdq" not in cpuinfo.read():
            pytest.skip("this CPU has no AVX-512 VPOPCNTDQ")
    import numba

    from deephash.index.scan import _scan_chunk

    kernel = numba.njit(nogil=True)(_scan_chunk.py_func)  # cached code cannot be inspected
    codes, queries = np.zeros((600, 2), np.uint64), np.zeros((1, 2), np.uint64)
    heaps = np.full((1, 5), np.iinfo(np.int64).max, np.int64)
    kernel(codes, np.zeros(600, np.uint8), 0, queries, queries, 5, 128, np.full(1, -1), heaps)
    assembly = kernel.inspect_asm(kernel.signatures[0])
    assert "vpgatherqq" not in assembly
    assert any("vpopcntq" in line and "zmm" in line for line in assembly.splitlines())


def test_unmasked_scan_agrees_with_faiss():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    codes, queries = random_codes(rng, 30000), random_codes(rng, 8)
    index = faiss.IndexBinaryFlat(BITS)
    index.add(codes)
    faiss_distances, faiss_rows = index.search(queries, 20)
    rows, distances = masked_topk(codes, np.zeros(len(codes), np.uint8), queries, None, 20)
    assert np.array_equal(distances, faiss_distances)
    # FAISS breaks ties its own way: compare the sets of rows below the last distance
    for q in range(len(queries)):
        inner = distances[q] < distances[q, -1]
        assert set(rows[q][inner]) == set(faiss_rows[q][inner])


@pytest.fixture
def library(tmp_path):
    with Library.create(tmp_path / "lib", BITS, "model-a", shard_capacity=64) as opened:
        yield opened


def test_add_is_idempotent_replaces_and_removes(library):
    rng = np.random.default_rng(0)
    first, second = random_codes(rng, 2)
    assert library.add("v1", first, 1, 3) == "added"
    assert library.add("v1", first, 1, 3) == "unchanged"
    assert len(library) == 1
    assert library.add("v1", second, 1, 3) == "replaced"
    assert len(library) == 1
    stored = library.get("v1")
    assert np.array_equal(stored.code, second) and (stored.l1, stored.l2) == (1, 3)
    hits = library.search(first, k=5)[0]
    assert [hit.video_id for hit in hits] == ["v1"] and hits[0].distance == int(np.unpackbits(first ^ second).sum())
    assert library.remove("v1") and not library.remove("v1")
    assert library.search(first, k=5) == [[]]
    with pytest.raises(UnknownVideoId):
        library.get("v1")
    assert library.add("v1", first, 2, 5) == "added"
    assert library.get("v1").l1 == 2
    assert library.verify() == []


def test_search_matches_reference_across_shards_groups_masks_and_reopen(library, tmp_path):
    rng = np.random.default_rng(1)
    count = 500
    codes = random_codes(rng, count)
    l1 = rng.integers(0, 3, count)
    ids = [f"video-{i}" for i in range(count)]
    library.import_codes(ids, codes, l1, l1 * 10, batch=128, progress=False)
    for victim in ids[:50:3]:
        library.remove(victim)
    assert library.stats()["shards"] > 3
    queries, masks = random_codes(rng, 4), random_codes(rng, 4)
    alive = np.array([video not in ids[:50:3] for video in ids])

    def expected(q, mask, group, k):
        keep = alive & ((l1 == group) if group is not None else True)
        rows, distances = reference_topk(codes, (~keep).astype(np.uint8), queries[q], mask, count)
        pairs = [(int(d), int(r)) for r, d in zip(rows[0], distances[0]) if r >= 0]
        return sorted(d for d, _ in pairs)[:k]

    for group in (None, 1):
        hits = library.search(queries, k=15, masks=masks, groups=[group] * 4)
        for q in range(4):
            assert [hit.distance for hit in hits[q]] == expected(q, masks[q], group, 15)
            assert all(group is None or hit.l1 == group for hit in hits[q])
            for hit in hits[q]:
                index = ids.index(hit.video_id)
                assert hit.distance == int(np.unpackbits((codes[index] ^ queries[q]) & masks[q]).sum())
    before = library.search(queries, k=15)
    library.close()
    with Library.open(tmp_path / "lib") as reader:
        assert reader.search(queries, k=15) == before
        with pytest.raises(LibraryError, match="read-only"):
            reader.add("x", codes[0], 0, 0)


def test_exclude_and_radius(library):
    rng = np.random.default_rng(2)
    codes = random_codes(rng, 40)
    library.add_many([f"v{i}" for i in range(40)], codes, np.zeros(40), np.zeros(40))
    hits = library.search(codes[5], k=3, exclude=["v5"])[0]
    assert "v5" not in [hit.video_id for hit in hits]
    assert library.search(codes[5], k=3, max_distance=0)[0][0].video_id == "v5"
    assert all(hit.distance <= 40 for hit in library.search(codes[5], k=40, max_distance=40)[0])


def test_compact_drops_tombstones_and_keeps_results(library):
    rng = np.random.default_rng(3)
    codes = random_codes(rng, 300)
    ids = [str(i) for i in range(300)]
    library.add_many(ids, codes, np.arange(300) % 2, np.zeros(300))
    for victim in ids[::4]:
        library.remove(victim)
    queries = random_codes(rng, 3)
    before = library.search(queries, k=20)
    report = library.compact()
    assert report == {"kept": 225, "dropped": 75, "shards": 2 + 3}  # 75 + 150 rows, 64 per shard
    after = library.search(queries, k=20)
    for old_hits, new_hits in zip(before, after):
        # compaction reorders rows, so only the order among equal distances may change
        assert [h.distance for h in old_hits] == [h.distance for h in new_hits]
        inside = old_hits[-1].distance
        assert {(h.video_id, h.distance) for h in old_hits if h.distance < inside} == {
            (h.video_id, h.distance) for h in new_hits if h.distance < inside
        }
    assert library.verify() == [] and library.get("1").l1 == 1


def test_refuses_other_code_lengths_and_model_versions(library, tmp_path):
    with pytest.raises(IncompatibleLibrary):
        library.add("v", np.zeros(8, np.uint8), 0, 0)
    library.close()
    with pytest.raises(IncompatibleLibrary, match="model"):
        Library.open(tmp_path / "lib", model_version="model-b")
    with pytest.raises(IncompatibleLibrary, match="64-bit"):
        Library.open(tmp_path / "lib", code_bits=64)
    with pytest.raises(LibraryError, match="already exists"):
        Library.create(tmp_path / "lib", BITS, "model-a")


@pytest.mark.parametrize("bad", ["", "x" * 257, "é" * 129, "a\x00b", "line\nbreak"])
def test_video_ids_are_one_to_256_bytes_of_printable_utf8(library, bad):
    code = np.zeros(16, np.uint8)
    with pytest.raises(InvalidRequest):
        library.add(bad, code, 0, 0)
    assert len(library) == 0
    assert library.add("x" * 256, code, 0, 0) == "added" and library.add("vidéo 7 ✓", code, 0, 0) == "added"


def test_one_writer_at_a_time(library, tmp_path):
    with pytest.raises(LibraryError, match="another writer"):
        Library.open(tmp_path / "lib", writable=True)


def test_backup_is_a_verified_copy_of_one_generation_and_restores(library, tmp_path):
    rng = np.random.default_rng(5)
    codes = random_codes(rng, 300)
    ids = [f"v{i}" for i in range(300)]
    library.add_many(ids, codes, rng.integers(0, 3, 300), rng.integers(0, 9, 300))
    library.add("v7", codes[8], 1, 2)  # a replacement: the old row is a tombstone
    library.remove("v9")
    queries = random_codes(rng, 4)
    expected = [library.search(query, 20) for query in queries]
    copied = library.backup(tmp_path / "backup")
    assert copied["rows"] == 299 and copied["generation"] == library.manifest.generation
    library.add("after", codes[0], 0, 0)  # writes after the backup stay out of it
    with Library.open(tmp_path / "backup") as backup:
        assert backup.verify() == [] and len(backup) == 299 and "after" not in backup and "v9" not in backup
        assert np.array_equal(backup.get("v7").code, codes[8])
        assert [backup.search(query, 20) for query in queries] == expected
    with Library.open(tmp_path / "backup") as backup:  # no writer: a reader may copy it
        backup.backup(tmp_path / "restored")
    with Library.open(tmp_path / "restored") as restored:
        assert restored.verify() == [] and [restored.search(query, 20) for query in queries] == expected
    with pytest.raises(LibraryError, match="exists already"):
        library.backup(tmp_path / "backup")
    with Library.open(library.folder) as reader, pytest.raises(LibraryError, match="open for writing"):
        reader.backup(tmp_path / "other")  # while a writer exists, only the writer takes backups
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.partial").exists()


def test_index_backup_cli_waits_for_no_writer(library, tmp_path, capsys):
    from deephash.cli.main import main

    library.add("a", random_codes(np.random.default_rng(0), 1)[0], 0, 0)
    assert main(["index", "backup", str(library.folder), str(tmp_path / "b")]) == LibraryError.exit_code
    assert "open for writing by another process" in capsys.readouterr().err
    library.close()
    assert main(["index", "backup", str(library.folder), str(tmp_path / "b")]) == 0
    assert main(["index", "restore", str(tmp_path / "b"), str(tmp_path / "r")]) == 0
    assert main(["index", "verify", str(tmp_path / "r")]) == 0
