"""Who may call what, and the trail of what they changed: bearer-token roles (``serving/auth.py``) checked on
every call, and the audit log (``serving/audit.py``) of every write and admin call, refused ones included."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import bentoml
from bentoml.exceptions import BentoMLException

from deephash.errors import DeepHashError
from serving.audit import AuditLog
from serving.auth import TokenFile
from serving.errors import http_error


class Access:
    def __init__(self, tokens: TokenFile | None, audit: AuditLog) -> None:
        """``tokens`` None: an open server (every call allowed, callers recorded as "open")."""
        self.tokens, self.audit = tokens, audit

    def allow(self, ctx: bentoml.Context, role: str) -> str:
        """Refuse the call (401/403) unless its bearer token's role allows ``role``; open servers allow all.
        Returns who the caller is, for the audit trail: the token's name (or its hash's first 12 digits), or
        "open" on an open server."""
        if self.tokens is None:
            return "open"
        try:
            grant = self.tokens.authorise(ctx.request.headers.get("authorization"), role)
        except DeepHashError as error:
            raise http_error(error) from error
        return grant.name or grant.digest[:12]

    @contextlib.asynccontextmanager
    async def mutation(
        self, ctx: bentoml.Context, action: str, video_id: str | None, role: str = "write"
    ) -> AsyncIterator[dict]:
        """A call that changes something (``role`` may make it), in the audit trail however it ends (refused
        callers included)."""
        client = ctx.request.client.host if ctx.request.client else "unknown"
        try:
            who = self.allow(ctx, role)
        except BentoMLException as error:
            status = int(error.error_code)
            fields = {"who": None, "client": client, "action": action, "video_id": video_id}
            await self.audit.record_failure(**fields, outcome="refused", status=status)
            raise
        async with self.audit.mutation(who, client, action, video_id) as record:
            yield record
