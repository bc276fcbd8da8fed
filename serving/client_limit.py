"""Per-client concurrency: a caller with too many requests in flight gets 429 and ``Retry-After`` at once.

One client flooding the service would otherwise queue work in front of every other client's requests (an
upload holds a decoder thread for its whole decode). A client is its token when it sends one the tokens file
knows (so a team behind one NAT is still several clients, and one token on many machines is one), else its
address: made-up tokens do not make a caller many clients. Health and metrics endpoints are never limited.
"""

from __future__ import annotations

import json
from collections import Counter

from serving.auth import TokenFile

UNLIMITED_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
RETRY_AFTER_S = 1


class ClientLimit:
    """ASGI middleware: at most ``max_in_flight`` concurrent requests per client."""

    def __init__(self, app, max_in_flight: int, tokens: TokenFile | None) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.tokens = tokens
        self.in_flight: Counter[str] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        client = self._client(scope)
        if self.in_flight[client] >= self.max_in_flight:
            return await _refuse(send, self.max_in_flight)
        self.in_flight[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[client] -= 1
            if not self.in_flight[client]:
                del self.in_flight[client]

    def _client(self, scope) -> str:
        authorization = dict(scope.get("headers", ())).get(b"authorization")
        if self.tokens is not None and authorization:
            grant = self.tokens.grant_of(authorization.decode("latin-1"))
            if grant is not None:
                return f"token:{grant.digest}"
        host = (scope.get("client") or ("unknown", 0))[0]
        return f"address:{host}"


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"error": f"more than {limit} requests in flight from this client; retry shortly"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
