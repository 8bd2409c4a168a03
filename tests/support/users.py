"""Test users: signed up the way Supabase Auth signs them up, with tokens the
test project's secret signs, and generations made through the SQL contract."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from genvault._tokens import mint_token
from tests.support.database import acting_as

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass(frozen=True)
class User:
    """A signed-up test user."""

    id: str
    email: str

    def token(self, ttl: int = 3600) -> str:
        return mint_token(TEST_JWT_SECRET, sub=self.id, email=self.email, ttl=ttl)


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


def user_claims(user: User) -> dict[str, Any]:
    return {"sub": user.id, "role": "authenticated", "email": user.email, "aud": "authenticated"}


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
