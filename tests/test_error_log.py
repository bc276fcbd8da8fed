"""A bulk job's error log: a killed job's torn last line is skipped on reading and ended before appending."""

from __future__ import annotations

from deephash.offline.bulk_job import ErrorLog


def test_a_torn_last_line_is_retried_and_does_not_swallow_the_next(tmp_path):
    path = tmp_path / "bulk-errors.jsonl"
    path.write_text('{"video_id": "a", "uri": "a.mp4", "error": "bad"}\n{"video_id": "b", "ur')
    log = ErrorLog(path)
    assert log.recorded() == {"a"}  # "b" is tried again
    log.append([{"video_id": "c", "uri": "c.mp4", "error": "bad"}])
    assert log.recorded() == {"a", "c"}
    assert ErrorLog(tmp_path / "none.jsonl").recorded() == set()
