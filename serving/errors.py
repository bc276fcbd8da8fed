"""The one translation of the package's errors into HTTP answers.

A caller's mistake is a 4xx with the reason; a fault of the model, the libraries or Triton is a 5xx (BentoML
shows the caller a generic message for those and logs the cause). An error this table does not know is a
500: an unexpected failure is never reported as the caller's fault.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from bentoml.exceptions import BentoMLException

from deephash.errors import (
    DeepHashError,
    FileTooLarge,
    IncompatibleLibrary,
    InvalidRequest,
    LibraryBusy,
    RemoteError,
    SearchIncomplete,
    StorageFailure,
    UnknownVersion,
    UnknownVideoId,
    VersionRefused,
    VideoError,
)
from serving.auth import Forbidden, Unauthenticated

# most specific first: the first class an error is an instance of decides
STATUS_BY_ERROR: tuple[tuple[type[DeepHashError], HTTPStatus], ...] = (
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (FileTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (VideoError, HTTPStatus.BAD_REQUEST),
    (InvalidRequest, HTTPStatus.BAD_REQUEST),
    (UnknownVideoId, HTTPStatus.NOT_FOUND),
    (UnknownVersion, HTTPStatus.NOT_FOUND),
    (IncompatibleLibrary, HTTPStatus.CONFLICT),
    (VersionRefused, HTTPStatus.CONFLICT),
    (LibraryBusy, HTTPStatus.CONFLICT),
    (RemoteError, HTTPStatus.SERVICE_UNAVAILABLE),
    (SearchIncomplete, HTTPStatus.SERVICE_UNAVAILABLE),  # holders down past the deadline: retry later
    (StorageFailure, HTTPStatus.INSUFFICIENT_STORAGE),  # the write was undone: the caller may retry later
)


def status_of(error: DeepHashError) -> HTTPStatus:
    return next(
        (status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)), HTTPStatus.INTERNAL_SERVER_ERROR
    )


def http_error(error: DeepHashError) -> BentoMLException:
    """The BentoML exception (status + message) that answers a request which failed with ``error``."""
    return BentoMLException(str(error), error_code=status_of(error))


async def off_loop(function, *args):
    """``function(*args)`` in a worker thread, its package errors as HTTP errors. A request cancelled meanwhile
    (a timeout, a client gone) still waits for its thread: what it holds (the version gate, the libraries'
    lock) is not released under work that is still running."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait({work})
        raise
    except DeepHashError as error:
        raise http_error(error) from error
