"""Caches of backbone features key on the files they were computed from."""

from pathlib import Path

from deephash.features import video_files_key


def test_a_file_has_one_key_from_any_working_folder(tmp_path: Path, monkeypatch) -> None:
    clip = tmp_path / "videos" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"not decoded here")
    monkeypatch.chdir(tmp_path)
    relative = video_files_key([Path("videos/clip.mp4")])
    monkeypatch.chdir(clip.parent)
    assert video_files_key([Path("clip.mp4")]) == relative == video_files_key([clip])
