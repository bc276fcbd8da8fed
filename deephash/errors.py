"""One exception root for the whole package.

Every boundary (CLI exit code, HTTP status) translates :class:`DeepHashError` once, so callers never
need to know which stage failed to decide how to report it.
"""

from __future__ import annotations


class DeepHashError(Exception):
    """Root of every error deephash raises on purpose."""

    exit_code = 1


class VideoError(DeepHashError):
    """A video could not be turned into frames."""

    exit_code = 3


class NotAMediaFile(VideoError):
    """The input is not a container FFmpeg can open (or it is empty)."""


class CorruptVideo(VideoError):
    """The container opened but its data is truncated or damaged."""


class NoVideoStream(VideoError):
    """The file holds no video stream (e.g. an audio-only file)."""


class NoDecodableFrames(VideoError):
    """Not a single frame of the video stream could be decoded."""


class VideoLimitExceeded(VideoError):
    """Dimensions, duration or file size are outside the configured limits."""


class FileTooLarge(VideoLimitExceeded):
    """The file is larger than the configured limit (checked before any decoding)."""


class DecodeTimeout(VideoError):
    """Decoding took longer than the configured time limit."""


class InvalidRequest(DeepHashError):
    """A caller's parameters are malformed or out of range (a bad hex code, an impossible option)."""

    exit_code = 2


class ConfigurationError(DeepHashError):
    """A setting (an environment variable, a configuration file) is missing, malformed or contradicts another."""

    exit_code = 2


class ModelError(DeepHashError):
    """A model artefact is missing, malformed or incompatible."""

    exit_code = 4


class DatasetError(DeepHashError):
    """A dataset folder, CSV or labels file is malformed."""

    exit_code = 5


class LibraryError(DeepHashError):
    """A code library (index) cannot be opened or changed as asked."""

    exit_code = 6


class StorageFailure(LibraryError):
    """The disk refused a write (full, or failing): nothing of it was acknowledged, and the library is as
    before it."""


class IncompatibleLibrary(LibraryError):
    """Codes of another length or another model version were offered to a library."""


class UnknownVideoId(LibraryError):
    """The library holds no row for the requested video id."""


class LibraryBusy(LibraryError):
    """Another writer (a process, or another open in this one) holds the library."""


class UnknownVersion(LibraryError):
    """The data folder holds no library version of that name."""


class VersionRefused(LibraryError):
    """A library version may not become the active one: it lacks videos of the active version, its model did
    worse, or it does not verify."""


class SearchIncomplete(LibraryError):
    """A search over shard holders could not scan every group it had to within its deadline (the groups are
    named), or their application cannot be reached: refused rather than answered short."""


class TritonError(DeepHashError):
    """A local tritonserver process could not be started or did not become ready."""

    exit_code = 7


class RemoteError(DeepHashError):
    """A remote model server (Triton) could not be reached or refused a request."""

    exit_code = 8
