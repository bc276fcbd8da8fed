"""Bulk-job manifests: three formats, checked ids, and URIs opened by scheme."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as parquet
import pytest

from deephash.errors import DatasetError, InvalidRequest
from deephash.offline.manifest import ManifestEntry, open_uri, read_manifest, register_opener


def test_text_csv_and_parquet_manifests_read_alike(tmp_path):
    expected = [ManifestEntry("a", "/videos/a.mp4"), ManifestEntry("b", "file:///videos/b%20c.mp4")]
    (tmp_path / "m.txt").write_text("a\t/videos/a.mp4\n\nb\tfile:///videos/b%20c.mp4\n")
    (tmp_path / "m.csv").write_text("id,uri\na,/videos/a.mp4\nb,file:///videos/b%20c.mp4\n")
    table = pa.table({"id": ["a", "b"], "uri": ["/videos/a.mp4", "file:///videos/b%20c.mp4"]})
    parquet.write_table(table, tmp_path / "m.parquet")
    for name in ("m.txt", "m.csv", "m.parquet"):
        assert read_manifest(tmp_path / name) == expected, name
    (tmp_path / "paths.txt").write_text("/videos/a.mp4\n")
    assert read_manifest(tmp_path / "paths.txt") == [ManifestEntry("/videos/a.mp4", "/videos/a.mp4")]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a\tx.mp4\na\ty.mp4\n", "appears twice"), ("bad\x07id\tx.mp4\n", "printable"), ("a\t\n", "no uri")],
)
def test_a_bad_manifest_names_its_entry(tmp_path, text, message):
    (tmp_path / "m.txt").write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_manifest(tmp_path / "m.txt")


def test_uris_open_by_scheme(tmp_path):
    assert open_uri("file:///videos/b%20c.mp4") == "/videos/b c.mp4"
    assert open_uri("/videos/a.mp4") == "/videos/a.mp4"
    with pytest.raises(InvalidRequest, match="deephash.uri_openers"):
        open_uri("s3://bucket/key.mp4")
    register_opener("mem", lambda uri: b"bytes of " + uri.encode())
    assert open_uri("mem://x") == b"bytes of mem://x"
