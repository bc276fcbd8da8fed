"""The offline flow: bulk (re-)hashing of a video history into libraries, on Ray."""

from deephash.offline.manifest import ManifestEntry, open_uri, read_manifest, register_opener

__all__ = ["ManifestEntry", "open_uri", "read_manifest", "register_opener"]
