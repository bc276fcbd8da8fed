"""A client of the deephash BentoML service (httpx): add, search, get, remove, hash, stats.

Non-2xx answers become :class:`ServiceError` carrying the HTTP status and the service's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from deephash.errors import RemoteError


class ServiceError(RemoteError):
    """The service answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def wait_for_service(
    url: str, probe: str = "readyz", timeout_s: float = 120.0, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll a health probe (``livez`` or ``readyz``) until it answers 200.

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


class ServiceClient:
    def __init__(self, url: str = "http://127.0.0.1:3000", timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout_s)

    def _post(self, endpoint: str, *, json_body: dict | None = None, video: Path | None = None, fields=None):
        try:
            if video is not None:
                with Path(video).open("rb") as handle:
                    files = {"video": (Path(video).name, handle, "video/mp4")}
                    response = self.http.post(f"{self.url}/{endpoint}", files=files, data=fields or {})
            else:
                response = self.http.post(f"{self.url}/{endpoint}", json=json_body or {})
        except httpx.HTTPError as error:
            raise ServiceError(f"cannot reach the service at {self.url}: {error}") from error
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise ServiceError(f"{endpoint}: HTTP {response.status_code}: {message}", response.status_code)
        return response.json()

    def hash(self, video: Path) -> dict:
        return self._post("hash", video=video)

    def add(self, video_id: str, video: Path) -> dict:
        return self._post("add", video=video, fields={"video_id": video_id})

    def search(self, video: Path, **options) -> list[dict]:
        return self._post("search", video=video, fields={"options": json.dumps(options)})

    def search_id(self, video_id: str, **options) -> list[dict]:
        return self._post("search_id", json_body={"video_id": video_id, "options": options})

    def search_code(self, code: str, l1: int, l2: int, **options) -> list[dict]:
        return self._post("search_code", json_body={"code": code, "l1": l1, "l2": l2, "options": options})

    def get(self, video_id: str) -> dict:
        return self._post("get", json_body={"video_id": video_id})

    def remove(self, video_id: str) -> dict:
        return self._post("remove", json_body={"video_id": video_id})

    def stats(self) -> dict:
        return self._post("stats")
