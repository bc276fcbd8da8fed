"""The audit trail: one JSON line per mutation, saying who asked for what, when, and how it ended.

Lines are appended with a single ``write`` on a file opened in append mode, so concurrent writers never
interleave within a line, and each is flushed to disk before the answer goes out: a mutation that was
acknowledged is in the trail. Refused, failed and cancelled attempts are recorded too (with their HTTP status);
refusals made before the service sees a request (413 for an upload over the limit, 429) are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bentoml.exceptions import BentoMLException

from deephash.errors import StorageFailure
from serving.errors import http_error

AUDIT_FILE = "audit.jsonl"
logger = logging.getLogger("deephash.service")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **fields: object) -> None:
        """Append one line durably; a disk that refuses it is a :class:`StorageFailure` (507: retry later)."""
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}, ensure_ascii=False) + "\n"
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = line.encode()
                while data:  # a nearly full disk may take part of it: the rest, or ENOSPC
                    data = data[os.write(descriptor, data) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise StorageFailure(f"the audit trail {self.path} refused a line: {error}") from error

    async def record(self, **fields: object) -> None:
        """:meth:`write` off the event loop (the fsync may take a while); a refused line answers 507."""
        try:
            await asyncio.to_thread(self.write, **fields)
        except StorageFailure as error:
            raise http_error(error) from error

    @contextlib.asynccontextmanager
    async def mutation(self, who: str, client: str, action: str, video_id: str | None) -> AsyncIterator[dict]:
        """Record ``action`` on ``video_id`` once it ends: the caller puts its outcome in the yielded dict; an
        exception is recorded with its status and passed on, a cancelled request as 499 (its write may still
        complete in its thread)."""
        record: dict = {"outcome": None}
        fields = {"who": who, "client": client, "action": action, "video_id": video_id}
        try:
            yield record
        except BentoMLException as error:
            await self.record_failure(**fields, outcome="failed", status=int(error.error_code))
            raise
        except asyncio.CancelledError:
            with contextlib.suppress(StorageFailure):  # no awaiting in a cancelled task
                self.write(**fields, outcome="cancelled", status=499)
            raise
        except Exception:
            await self.record_failure(**fields, outcome="failed", status=500)
            raise
        try:
            await asyncio.to_thread(self.write, **fields, outcome=record["outcome"], status=200)
        except StorageFailure as error:  # done but not in the trail: the caller retries (writes are idempotent)
            raise http_error(StorageFailure(f"{error}; the {action} may have been done: retry it later")) from error

    async def record_failure(self, **fields: object) -> None:
        """The trail line of a call that failed anyway: its own failure must not hide the call's (a full disk
        refuses both; the caller gets the call's status and the server log says the line is missing)."""
        try:
            await asyncio.to_thread(self.write, **fields)
        except StorageFailure as error:
            logger.error("audit line lost (%s): %s", error, fields)
