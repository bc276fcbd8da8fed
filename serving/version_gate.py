"""Switching the served library version with no failed request and no answer that mixes two versions.

Every request runs inside the gate (an ASGI middleware); a switch closes the gate to new requests, waits
for those in flight to finish, swaps the libraries and the model, and opens it again. Requests that arrive
meanwhile wait a moment instead of failing, and each answer's ``X-DeepHash-Model-Version`` header names
the one model version its request saw from start to end. The switch's own request (``/activate``) is the
one that does not wait: it is the one closing the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

VERSION_HEADER = b"x-deephash-model-version"
UNGATED_PATHS = frozenset({"/activate", "/livez", "/readyz", "/healthz", "/metrics"})


class VersionGate:
    """In-flight requests against the current version, and the switch that waits for them. One condition
    guards both counts, so a request is either counted before a switch closes the gate or waits for it."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.version = ""  # set by the service when it opens its libraries
        self._switching_now = False
        self._changed = asyncio.Condition()
        self._one_switch = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[str]:
        """A request's stay: it waits while a switch is under way; yields the version it will see."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._switching_now)
            self.in_flight += 1
        try:
            yield self.version
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def switch(self) -> AsyncIterator[None]:
        """Exclusive: no request runs inside; new ones wait until it ends (whether the switch worked or not)."""
        async with self._one_switch:
            async with self._changed:
                self._switching_now = True
                await self._changed.wait_for(lambda: self.in_flight == 0)
            try:
                yield
            finally:
                async with self._changed:
                    self._switching_now = False
                    self._changed.notify_all()


GATE = VersionGate()  # one per worker process: the service (its switch) and the middleware share it


class VersionGateMiddleware:
    """ASGI middleware: each HTTP request inside :data:`GATE`, its answer labelled with the model version."""

    def __init__(self, app, gate: Callable[[], VersionGate] = lambda: GATE) -> None:
        self.app, self.gate = app, gate

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNGATED_PATHS:
            return await self.app(scope, receive, send)
        async with self.gate().request() as version:

            async def labelled(message: dict) -> None:
                if message["type"] == "http.response.start" and version:
                    message = {**message, "headers": [*message.get("headers", ()), (VERSION_HEADER, version.encode())]}
                await send(message)

            await self.app(scope, receive, labelled)
