"""The database under test: scratch databases, and requests run the way the
Supabase services run them (a role and JWT claims, local to one transaction)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg


def _replace_db(url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(server_url: str, prefix: str = "genvault_scratch") -> Iterator[str]:
    """A new, empty database on the server under test, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield _replace_db(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def acting_as(
    conn: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction as PostgREST runs a request: role and claims, both local."""
    with conn.transaction():
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, json.dumps(claims or {"role": role})),
        )
        yield conn


@contextmanager
def storage_request(
    conn: psycopg.Connection[Any], claims: dict[str, Any]
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction as the Storage API runs a request for ``claims``: like
    :func:`acting_as`, and marked as Storage's own, which may delete objects."""
    with acting_as(conn, str(claims["role"]), claims):
        conn.execute("select set_config('storage.allow_delete_query', 'true', true)")
        yield conn


def backdate(conn: psycopg.Connection[Any], set_created_at: str, where: str, params: Any) -> None:
    """Move generations back in time, as if they were made earlier.

    Nothing in genvault may change a recorded ``created_at`` (a trigger refuses it
    for every role), so a test that needs an old row turns that one trigger off for
    the length of one transaction, as the table's owner.
    """
    with conn.transaction():
        conn.execute(
            "alter table public.user_generations disable trigger user_generations_freeze_provenance"
        )
        conn.execute(
            f"update public.user_generations set created_at = {set_created_at} where {where}",
            params,
        )
        conn.execute(
            "alter table public.user_generations enable trigger user_generations_freeze_provenance"
        )
