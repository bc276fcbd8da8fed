"""Who may call the service: bearer tokens with roles, stored hashed, re-read when their file changes.

Roles are cumulative: ``read`` (hash, search, get, stats) < ``write`` (+ add, remove) < ``admin`` (+ maintenance).
The tokens file holds one token per line, ``<sha256 of the token, hex> <role> [name]`` (``#`` starts a comment);
``deephash token --role write`` makes a token and prints its line. Only hashes are kept, comparisons run in
constant time, and a token is never logged. The file is read again whenever its size or modification time
changes, so tokens can be added or revoked without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from deephash.errors import DeepHashError

ROLES = ("read", "write", "admin")


class Unauthenticated(DeepHashError):
    """No token, or a token the service does not know (HTTP 401)."""

    exit_code = 9


class Forbidden(DeepHashError):
    """A known token whose role does not allow the call (HTTP 403)."""

    exit_code = 9


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(role: str, name: str = "") -> tuple[str, str]:
    """A fresh random token and the line that grants ``role`` to it in a tokens file."""
    if role not in ROLES:
        raise DeepHashError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    token = secrets.token_urlsafe(32)
    return token, f"{token_hash(token)} {role} {name}".rstrip()


@dataclass(frozen=True)
class Grant:
    digest: str
    role: str
    name: str


def parse_tokens(text: str) -> list[Grant]:
    grants = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2 or len(fields[0]) != 64 or fields[1] not in ROLES:
            raise DeepHashError(f"tokens file line {number}: expected '<sha256 hex> <{'|'.join(ROLES)}> [name]'")
        grants.append(Grant(fields[0].lower(), fields[1], " ".join(fields[2:])))
    return grants


class TokenFile:
    """The grants of a tokens file, reloaded when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._grants: list[Grant] = []
        self.grants()  # a missing or malformed file stops the service at start, not at the first request

    def grants(self) -> list[Grant]:
        try:
            status = self.path.stat()
        except OSError as error:
            raise DeepHashError(f"cannot read the tokens file {self.path}: {error}") from error
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            self._grants, self._stamp = parse_tokens(self.path.read_text()), stamp
        return self._grants

    def grant_of(self, authorization: str | None) -> Grant | None:
        """The grant of the bearer token in an ``Authorization`` header; None without a known one."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = token_hash(token.strip())
        found = None
        for grant in self.grants():  # every grant is compared, so the time does not say which one matched
            if hmac.compare_digest(grant.digest, digest):
                found = grant
        return found

    def authorise(self, authorization: str | None, needed: str) -> Grant:
        """The grant of the bearer token in an ``Authorization`` header, if its role allows ``needed``."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("this call needs a bearer token (Authorization: Bearer <token>)")
        found = self.grant_of(authorization)
        if found is None:
            raise Unauthenticated("unknown or revoked token")
        if ROLES.index(found.role) < ROLES.index(needed):
            raise Forbidden(f"a {found.role} token may not do this; it needs {needed}")
        return found
