"""The audit trail: one JSON line per mutation, saying who asked for what, when, and how it ended.

Lines are appended with a single ``write`` on a file opened in append mode, so concurrent writers never
interleave within a line, and each is flushed to disk before the answer goes out: a mutation that was
acknowledged is in the trail. Refused and failed attempts are recorded too (with their HTTP status).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from bentoml.exceptions import BentoMLException

AUDIT_FILE = "audit.jsonl"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **fields: object) -> None:
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}, ensure_ascii=False) + "\n"
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    @contextlib.contextmanager
    def mutation(self, who: str, client: str, action: str, video_id: str) -> Iterator[dict]:
        """Record ``action`` on ``video_id`` once it ends: the caller puts its outcome in the yielded dict; an
        exception is recorded with its status and passed on."""
        record: dict = {"outcome": None}
        fields = {"who": who, "client": client, "action": action, "video_id": video_id}
        try:
            yield record
        except BentoMLException as error:
            self.write(**fields, outcome="failed", status=int(error.error_code))
            raise
        except Exception:
            self.write(**fields, outcome="failed", status=500)
            raise
        self.write(**fields, outcome=record["outcome"], status=200)
