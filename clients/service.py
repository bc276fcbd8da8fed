"""A client of the deephash BentoML service, on BentoML's own HTTP client: add, search, get, remove, hash, stats.

Non-2xx answers and connection failures become :class:`ServiceError` carrying the HTTP status (None when the
service could not be reached) and the service's message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import bentoml
import httpx
from bentoml.exceptions import BentoMLException

from deephash.errors import RemoteError
from deephash.search_options import SearchOptions

TOKEN_ENV = "DEEPHASH_TOKEN"


class ServiceError(RemoteError):
    """The service answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def wait_for_service(
    url: str, probe: str = "readyz", timeout_s: float = 120.0, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll a health probe (``livez`` or ``readyz``) until it answers 200 — for whoever starts a server and must
    wait for it (a service that is alive but not ready, e.g. on a library of another model, answers livez only).

    Raises :class:`ServiceError` after ``timeout_s``, or at once when ``alive()`` says the server is gone.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise ServiceError(f"the service at {url} exited before {probe} answered")
        try:
            if httpx.get(f"{url.rstrip('/')}/{probe}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServiceError(f"the service at {url} did not answer {probe} within {timeout_s:g} s")


def _message(error: BentoMLException) -> str:
    """The service's ``{"error": ...}`` text (BentoML wraps errors raised on purpose in a list)."""
    try:
        body = json.loads(error.message)
    except (TypeError, ValueError):
        return str(error.message)
    body = body[0] if isinstance(body, list) and body else body
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)


class ServiceClient:
    """Connects at once (fetching the service's schema), without waiting for readiness."""

    def __init__(self, url: str = "http://127.0.0.1:3000", timeout_s: float = 120.0, token: str | None = None) -> None:
        """``token``: the bearer token (default ``$DEEPHASH_TOKEN``; none for an open server)."""
        self.url = url.rstrip("/")
        token = token or os.environ.get(TOKEN_ENV) or None
        try:
            self._client = bentoml.SyncHTTPClient(self.url, timeout=timeout_s, server_ready_timeout=0, token=token)
        except (BentoMLException, httpx.HTTPError) as error:
            raise ServiceError(f"cannot reach the service at {self.url}: {error}") from error

    def close(self) -> None:
        self._client.close()

    def _call(self, endpoint: str, **arguments):
        try:
            return self._client.call(endpoint, **arguments)
        except BentoMLException as error:
            status = int(error.error_code)
            raise ServiceError(f"{endpoint}: HTTP {status}: {_message(error)}", status) from error
        except httpx.HTTPError as error:
            raise ServiceError(f"cannot reach the service at {self.url}: {error}") from error

    def hash(self, video: Path) -> dict:
        return self._call("hash", video=Path(video))

    def add(self, video_id: str, video: Path) -> dict:
        return self._call("add", video_id=video_id, video=Path(video))

    def search(self, video: Path, options: SearchOptions = SearchOptions()) -> list[dict]:
        return self._call("search", video=Path(video), options=options.model_dump())

    def search_id(self, video_id: str, options: SearchOptions = SearchOptions()) -> list[dict]:
        return self._call("search_id", video_id=video_id, options=options.model_dump())

    def search_code(self, code: str, l1: int, l2: int, options: SearchOptions = SearchOptions()) -> list[dict]:
        return self._call("search_code", code=code, l1=l1, l2=l2, options=options.model_dump())

    def get(self, video_id: str) -> dict:
        return self._call("get", video_id=video_id)

    def remove(self, video_id: str) -> dict:
        return self._call("remove", video_id=video_id)

    def stats(self) -> dict:
        return self._call("stats")
