"""Verification descriptors in a library: kept beside the codes under the same write protocol, read only for the
scan's candidates, and the two-stage search equal to re-ranking every row whenever the scan's candidates hold the
true top k."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.codes import hamming, pack_bits
from deephash.errors import IncompatibleLibrary, LibraryError
from deephash.index import Library
from deephash.index.shard import Shard
from deephash.index.shard_ids import PackedIds
from deephash.verification import normalise, quantise

DIMS = 32


def correlated_rows(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors and 128-bit codes that are the signs of random projections of them, so the Hamming scan's
    nearest are mostly the most similar."""
    rng = np.random.default_rng(seed)
    descriptors = normalise(rng.standard_normal((count, DIMS)))
    planes = np.random.default_rng(99).standard_normal((DIMS, 128))
    return descriptors, pack_bits(descriptors @ planes >= 0)


def brute_force(library: Library, query: np.ndarray, k: int) -> list[tuple[str, float]]:
    """Every live row's stored descriptor compared with the query: the top ``k`` by similarity."""
    ids = list(library.video_ids())
    stored = library.get_many(ids)
    scored = sorted(((float(stored[v].verify @ query), v) for v in ids), key=lambda pair: -pair[0])
    return [(video, similarity) for similarity, video in scored[:k]]


@pytest.fixture
def library(tmp_path):
    descriptors, codes = correlated_rows(600)
    library = Library.create(tmp_path / "lib", 128, "v", shard_capacity=256, verify_dims=DIMS)
    ids = [f"v{i}" for i in range(600)]
    library.add_many(ids, codes, np.arange(600) % 3, np.arange(600) % 5, descriptors)
    yield library
    library.close()


def test_two_stage_equals_re_ranking_every_row_when_the_candidates_hold_the_true_top_k(library):
    queries, codes = correlated_rows(40, seed=1)
    checked = 0
    for query, code in zip(queries, codes):
        truth = brute_force(library, query, 5)
        candidates = {hit.video_id for hit in library.search(code, 50)[0]}  # the scan's k x oversampling
        if not {video for video, _ in truth} <= candidates:
            continue  # the scan missed one of the true top 5: the two stages may differ there
        hits = library.search(code, 5, verify=query, oversampling=10)[0]
        assert [hit.video_id for hit in hits] == [video for video, _ in truth]
        assert [hit.similarity for hit in hits] == pytest.approx([similarity for _, similarity in truth], abs=1e-6)
        assert [hit.distance for hit in hits] == [int(hamming(code, library.get(hit.video_id).code)) for hit in hits]
        checked += 1
    assert checked >= 20, "too few queries whose candidates held their true top 5 to test anything"


def test_every_row_as_candidate_is_the_brute_force_answer_and_stored_descriptors_are_int8_of_the_given(library):
    queries, codes = correlated_rows(5, seed=2)
    for query, code in zip(queries, codes):
        hits = library.search(code, 7, verify=query, oversampling=100)[0]  # 700 candidates >= 600 rows
        assert [(hit.video_id, hit.similarity) for hit in hits] == [
            (video, pytest.approx(similarity, abs=1e-6)) for video, similarity in brute_force(library, query, 7)
        ]
    descriptors, _ = correlated_rows(600)
    values, scales = quantise(descriptors[:3])
    stored = library.get_many(["v0", "v1", "v2"])
    for row, video in enumerate(["v0", "v1", "v2"]):
        assert np.allclose(stored[video].verify, values[row] * scales[row])
        assert np.abs(stored[video].verify - descriptors[row]).max() <= np.abs(descriptors[row]).max() / 254 + 1e-7


def test_descriptors_survive_replace_compaction_backup_and_checksums_cover_them(library, tmp_path):
    new, code = correlated_rows(1, seed=3)
    assert library.add("v7", code[0], 0, 0, new[0]) == "replaced"
    library.remove("v8")
    before = library.get_many([f"v{i}" for i in range(600)])
    report = library.compact()
    assert report["dropped"] == 2 and library.verify() == []
    after = library.get_many([f"v{i}" for i in range(600)])
    assert set(after) == set(before) and all(np.array_equal(after[v].verify, before[v].verify) for v in after)
    library.backup(tmp_path / "copy")
    with Library.open(tmp_path / "copy") as copy:
        assert copy.verify_dims == DIMS and copy.stats()["verification_dims"] == DIMS
        assert np.array_equal(copy.get("v7").verify, library.get("v7").verify)
    entry = library.manifest.shards[0]
    shard = Shard(library.folder / "shards" / entry.name, writable=True)
    shard.verify[3, 0] = shard.verify[3, 0] ^ 1  # one flipped bit in a stored descriptor
    shard.flush()
    shard.close()
    library.refresh()
    with Library.open(library.folder) as reader:
        assert any("checksum mismatch" in problem for problem in reader.verify())


def test_an_unacknowledged_tail_of_descriptors_is_cleared(library):
    entry = library.manifest.shards[-1]
    path = library.folder / "shards" / entry.name
    shard = Shard(path, writable=True)
    descriptors, codes = correlated_rows(3, seed=4)
    shard.append(entry.rows, codes, np.zeros(3, np.int16), PackedIds.of(["t0", "t1", "t2"]), quantise(descriptors))
    shard.flush()
    shard.close()
    rows = entry.rows
    library.close()
    with Library.open(path.parents[1], writable=True) as reopened:
        assert any("unacknowledged" in line for line in reopened.recovery)
        tail = Shard(path)
        assert not tail.verify[rows : rows + 3].any() and not tail.verify_scale[rows : rows + 3].any()
        tail.close()


def test_a_library_of_codes_alone_searches_by_codes_and_one_with_descriptors_wants_them(tmp_path, library):
    descriptors, codes = correlated_rows(20)
    with Library.create(tmp_path / "plain", 128, "v") as plain:
        plain.add_many([f"p{i}" for i in range(20)], codes, np.zeros(20), np.zeros(20), descriptors)  # not kept
        hits = plain.search(codes[0], 3, verify=descriptors[0])[0]
        assert hits[0].video_id == "p0" and hits[0].similarity is None
        assert plain.stats()["verification_dims"] == 0 and plain.get("p0").verify is None
    with pytest.raises(LibraryError, match="keeps 32-dimensional verification descriptors"):
        library.add_many(["x"], codes[:1], [0], [0])
    with pytest.raises(IncompatibleLibrary, match="keeps 32 dimensions"):
        library.add_many(["x"], codes[:1], [0], [0], np.zeros((1, 8), np.float32))
    with pytest.raises(IncompatibleLibrary, match="keeps 32 dimensions"):
        library.search(codes[0], 3, verify=np.zeros(8, np.float32))
