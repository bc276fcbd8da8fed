"""Tokens and roles without a server: the file format, constant-time lookup, roles, reloading, settings."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from deephash.errors import DeepHashError
from serving.auth import Forbidden, TokenFile, Unauthenticated, new_token, parse_tokens, token_hash
from serving.settings import ServiceSettings


def test_grants_are_hashed_and_roles_cumulative(tmp_path):
    (reader, read_line), (writer, write_line) = new_token("read", "alice"), new_token("write")
    assert reader not in read_line and token_hash(reader) in read_line  # only the hash is written
    path = tmp_path / "tokens"
    path.write_text(f"# team tokens\n{read_line}\n\n{write_line}  # ci\n")
    tokens = TokenFile(path)
    assert tokens.authorise(f"Bearer {reader}", "read").name == "alice"
    assert tokens.authorise(f"bearer {writer}", "read").role == "write"  # write includes read
    with pytest.raises(Forbidden):
        tokens.authorise(f"Bearer {reader}", "write")
    for header in (None, "", "Bearer ", f"Basic {reader}", "Bearer nope"):
        with pytest.raises(Unauthenticated):
            tokens.authorise(header, "read")


def test_a_changed_file_is_read_again(tmp_path):
    old, old_line = new_token("admin")
    new, new_line = new_token("admin")
    path = tmp_path / "tokens"
    path.write_text(old_line + "\n")
    tokens = TokenFile(path)
    tokens.authorise(f"Bearer {old}", "admin")
    path.write_text(new_line + "\n")
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    with pytest.raises(Unauthenticated):
        tokens.authorise(f"Bearer {old}", "admin")
    assert tokens.authorise(f"Bearer {new}", "admin").role == "admin"


def test_malformed_files_and_settings_are_refused(tmp_path):
    with pytest.raises(DeepHashError, match="line 1"):
        parse_tokens("abc read\n")
    with pytest.raises(DeepHashError, match="line 2"):
        parse_tokens(f"{'0' * 64} read\n{'0' * 64} superuser\n")
    with pytest.raises(DeepHashError, match="cannot read"):
        TokenFile(tmp_path / "absent")
    with pytest.raises(DeepHashError, match="DEEPHASH_AUTH=open"):
        ServiceSettings(auth="tokens", tokens_file=None).check_access_control()
    ServiceSettings(auth="open").check_access_control()
    ServiceSettings(tokens_file=tmp_path / "tokens").check_access_control()
    with pytest.raises(ValidationError):
        ServiceSettings(auth="closed")


def test_the_token_verb_appends_a_grant_the_service_accepts(tmp_path, capsys):
    from deephash.cli.main import main

    path = tmp_path / "tokens"
    assert main(["token", "--role", "write", "--name", "ingest", "--file", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = next(line for line in lines if line.startswith("token: ")).removeprefix("token: ")
    assert token not in path.read_text() and path.read_text().endswith(" write ingest\n")
    assert TokenFile(path).authorise(f"Bearer {token}", "write").name == "ingest"
