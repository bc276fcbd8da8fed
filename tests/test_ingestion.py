"""One way codes enter the libraries: the service's add, the bulk job on Ray and ``deephash index add`` write
the same rows for the same videos, audio first, and a video hashed again without sound loses its old audio."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.catalog import Catalog
from deephash.cli.main import main
from deephash.index import Library
from deephash.ingestion import CodeRows, write_codes
from deephash.offline.bulk_job import BulkOptions, run_bulk_job
from deephash.offline.manifest import ManifestEntry
from tests.test_service import start

VIDEOS = ("bigbuckbunny", "bikes", "carphone_pristine")


def _rows(library: Library) -> dict[str, tuple[bytes, int, int]]:
    stored = library.get_many(sorted(library.video_ids()))
    return {video_id: (row.code.tobytes(), row.l1, row.l2) for video_id, row in stored.items()}


def _codes(folder) -> tuple[dict, dict]:
    with Library.open(folder / "video") as video, Library.open(folder / "audio") as audio:
        return _rows(video), _rows(audio)


@pytest.mark.slow  # a bentoml serve process and a local Ray cluster
def test_service_bulk_job_and_cli_write_the_same_libraries(small_model, clips, tmp_path_factory, tmp_path):
    service = start(tmp_path_factory, small_model)
    try:
        for name in VIDEOS:
            response = service.upload("add", clips[name], video_id=name)
            assert response.status_code == 200 and response.json()["outcome"] == "added", response.text
    finally:
        service.stop()
    served = _codes(service.data)

    entries = [ManifestEntry(name, str(clips[name])) for name in VIDEOS]
    report = run_bulk_job(entries, tmp_path / "bulk", small_model, BulkOptions(num_cpus=2), progress=False)
    assert report.hashed == len(VIDEOS)
    bulk = _codes(tmp_path / "bulk")

    cli = tmp_path / "cli"
    assert main(["index", "create", str(cli / "video"), "--model", str(small_model)]) == 0
    arguments = ["index", "add", str(cli / "video"), *(str(clips[name]) for name in VIDEOS)]
    assert main([*arguments, "--audio", str(cli / "audio"), "--model", str(small_model)]) == 0
    by_cli = _codes(cli)

    assert set(served[0]) == set(VIDEOS) and served[1]  # every video, and the clips that have sound
    assert served == bulk == by_cli


def test_audio_is_written_before_video_and_a_silent_replacement_drops_the_old_sound(small_model, tmp_path):
    catalog = Catalog(small_model, tmp_path)
    code, sound = np.full(catalog.config.code_bits // 8, 7, np.uint8), np.full(16, 9, np.uint8)
    failing_video = catalog.video.add_many

    def crash(*args):
        assert "v" in catalog.audio, "the audio row is durable before the video row"
        raise OSError("the disk went away")

    catalog.video.add_many = crash
    with pytest.raises(OSError):
        catalog.add_many(CodeRows(["v"], code[None], [0], [0], [sound]))
    assert "v" not in catalog  # not done: a retry (or a resumed bulk job) writes both
    catalog.video.add_many = failing_video
    assert catalog.add_many(CodeRows(["v"], code[None], [0], [0], [sound])) == {"added": 1}
    assert catalog.add_many(CodeRows(["v"], (code + 1)[None], [0], [0], [None])) == {"replaced": 1}
    assert "v" not in catalog.audio and "v" in catalog
    catalog.close()


def test_a_video_library_alone_takes_no_audio(tmp_path):
    with Library.create(tmp_path / "video", 128, "v") as video:
        rows = CodeRows(["a", "b"], np.zeros((2, 16), np.uint8), [0, 1], [0, 1], [np.ones(16, np.uint8), None])
        assert write_codes(video, None, rows) == {"added": 2}
    with pytest.raises(ValueError, match="differ in length"):
        CodeRows(["a"], np.zeros((2, 16), np.uint8), [0], [0], [None])
