"""Refuse a request body over the upload limit while it streams in, before it is stored anywhere.

BentoML writes an uploaded file to disk before the endpoint runs, so a size check in the endpoint comes after
the whole body was received and stored. This ASGI middleware sits in front: a ``Content-Length`` over the limit
is answered 413 at once, without reading the body; a body sent without one (chunked) is counted as it arrives,
and the request is cut off with 413 as soon as the count passes the limit. What the server holds of a refused
upload is at most the limit.
"""

from __future__ import annotations

import json


class _TooLarge(Exception):
    """Raised into the application's ``receive`` once the body passed the limit."""


class UploadLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, f"the request body of {int(declared)} bytes")
        received = 0
        refused = False
        started = False

        async def counted_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        async def guarded_send(message) -> None:
            nonlocal started
            if refused:  # whatever the application makes of the cut-off body, the answer is ours
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            refused = True
        if refused and not started:
            await self._refuse(send, f"a request body of more than {received} bytes")

    async def _refuse(self, send, what: str) -> None:
        body = json.dumps({"error": f"{what} exceeds the upload limit of {self.max_bytes} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers + [(b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
