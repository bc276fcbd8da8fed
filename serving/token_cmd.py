"""``deephash token --role ROLE``: a new bearer token for the service, and the line that grants it."""

from __future__ import annotations

from pathlib import Path

from serving.auth import ROLES, new_token


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "token",
        help="make a bearer token for the service (read, write or admin)",
        description="Print a new random token (shown once: only its sha256 is stored) and append the line that "
        "grants its role to the tokens file the service reads (DEEPHASH_TOKENS_FILE). The service picks the "
        "change up without a restart; delete the line to revoke the token.",
    )
    parser.add_argument("--role", choices=ROLES, required=True, help="read < write < admin (cumulative)")
    parser.add_argument("--name", default="", help="who the token is for (kept in the file, not secret)")
    parser.add_argument("--file", type=Path, help="tokens file to append the grant to (default: print it only)")
    parser.set_defaults(run=run)


def run(args) -> int:
    token, line = new_token(args.role, args.name)
    if args.file is not None:
        args.file.parent.mkdir(parents=True, exist_ok=True)
        with args.file.open("a") as handle:
            handle.write(line + "\n")
        print(f"granted {args.role} in {args.file}")
    else:
        print(f"grant line: {line}")
    print(f"token: {token}")
    return 0
