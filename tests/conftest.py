"""Shared fixtures: a real PostgreSQL per test session, users, and a clean environment.

The database is the embedded server genvault ships with, started by the
fixture in a temporary folder, or the server named by TEST_DATABASE_URL (the
test command also runs the suite against Debian's PostgreSQL 15 that way).
Each session gets a freshly created and migrated database, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row

from genvault._migrate import migrate
from genvault._tokens import mint_token

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
_ENV_PREFIXES = ("GENVAULT_", "SUPABASE_", "REPLICATE_", "DATABASE_URL", "NO_COLOR")


@dataclass(frozen=True)
class User:
    """A signed-up test user."""

    id: str
    email: str

    def token(self, ttl: int = 3600) -> str:
        return mint_token(TEST_JWT_SECRET, sub=self.id, email=self.email, ttl=ttl)


def _replace_db(url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of the PostgreSQL server under test (any database on it).

    TEST_DATABASE_URL when set; else the embedded server, started here in a
    temporary folder and stopped when the session ends.
    """
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from genvault._embedded import embedded_url, stop_embedded

    home = tmp_path_factory.mktemp("embedded-pg")
    yield embedded_url(home)
    stop_embedded(home)


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


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database on the server, with every genvault migration applied."""
    with scratch_database(server_url, "genvault_test") as url:
        migrate(url)
        yield url


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection as the database owner (bypasses RLS), autocommit."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def create_user(conn: psycopg.Connection[Any], *, credits: int | None = None) -> User:
    """Sign up a user the way Supabase Auth does: a row in auth.users."""
    user = User(str(uuid.uuid4()), f"user-{secrets.token_hex(4)}@example.test")
    conn.execute("insert into auth.users (id, email) values (%s, %s)", (user.id, user.email))
    if credits is not None:
        conn.execute(
            "select public.grant_credits(%s, %s - credits) from public.user_credits "
            "where user_id = %s and credits <> %s",
            (user.id, credits, user.id, credits),
        )
    return user


@pytest.fixture
def make_user(admin: psycopg.Connection[dict[str, Any]]) -> Any:
    """Factory: ``make_user(credits=N)`` signs up a new user."""

    def factory(credits: int | None = None) -> User:
        return create_user(admin, credits=credits)

    return factory


def record_generation(
    conn: psycopg.Connection[Any], user: User, prompt: str = "a recorded image"
) -> str:
    """Make a generation of ``user`` the only way a user can: reserve, then record."""
    with acting_as(conn, "authenticated", user_claims(user)):
        [reservation] = conn.execute(
            "select reservation_id from public.reserve_credit(%s)", (uuid.uuid4().hex,)
        ).fetchall()
        [row] = conn.execute(
            "select id from public.record_generation(%s, %s, %s, 'test/model')",
            (_first(reservation), prompt, f"{user.id}/{uuid.uuid4().hex}.webp"),
        ).fetchall()
    return str(_first(row))


def _first(row: Any) -> Any:
    """The first value of a row, whichever row factory made it."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


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


@pytest.fixture
def make_generation(admin: psycopg.Connection[dict[str, Any]]) -> Any:
    """Factory: ``make_generation()`` signs up a user with credits and records one
    generation of theirs through the contract; returns (user, generation id)."""

    def factory(prompt: str = "a recorded image") -> tuple[User, str]:
        user = create_user(admin, credits=3)
        return user, record_generation(admin, user, prompt)

    return factory


@contextmanager
def acting_as(
    conn: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction as PostgREST runs a request: role and claims, both local."""
    import json

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


def user_claims(user: User) -> dict[str, Any]:
    return {"sub": user.id, "role": "authenticated", "email": user.email, "aud": "authenticated"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer setting or `.env` leaks into a test: a fresh HOME and data folder."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GENVAULT_HOME", str(home / "genvault"))
    monkeypatch.chdir(tmp_path)
    return home
