"""Who may touch what in organising.sql: every API role against every new table and
every new function, with a share and a public link in play.

Six actors, taken the way PostgREST takes them (``acting_as``):

* ``owner``     - the signed-in user whose generation, collection, tags, template,
  shares and link these are;
* ``other``     - another signed-in user, with no share;
* ``recipient`` - a signed-in user the owner shared the generation and the
  collection with;
* ``viewer``    - a visitor without an account (``anon``) who holds the link's token;
* ``anon``      - a visitor without an account who does not (a well-formed guess);
* ``service_role`` - the operator's key.

Everyone but ``anon`` holds the link's token: a link shows its images to whoever
has it, signed in or not, and nothing more. Outcomes are named as in
tests/test_ownership_sql.py (``rows``, ``none``, ``ok`` or a SQLSTATE), and every
attempt is rolled back.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.support.database import acting_as
from tests.support.organising_access import ACTORS, FUNCTION_CASES, Outcomes
from tests.support.users import User, create_user, user_claims


@dataclass(frozen=True)
class World:
    """The owner's things, one of each, shared with the recipient and by a link."""

    owner: User
    other: User
    recipient: User
    gen: str
    gen_created: datetime
    gen_path: str
    spare: str
    spare_created: datetime
    trashed: str
    collection: str
    generation_share: str
    collection_share: str
    link: str
    token: str

    def params(self, actor: str) -> dict[str, Any]:
        return {
            "owner": self.owner.id,
            "other": self.other.id,
            "recipient": self.recipient.id,
            "other_email": self.other.email,
            "gen": self.gen,
            "gen_created": self.gen_created,
            "gen_path": self.gen_path,
            "spare": self.spare,
            "spare_created": self.spare_created,
            "trashed": self.trashed,
            "coll": self.collection,
            "share": self.generation_share,
            "coll_share": self.collection_share,
            "link": self.link,
            "token": secrets.token_hex(32) if actor == "anon" else self.token,
            "token_hash": secrets.token_bytes(32),
        }

    def role_and_claims(self, actor: str) -> tuple[str, dict[str, Any]]:
        users = {"owner": self.owner, "other": self.other, "recipient": self.recipient}
        if actor in users:
            return "authenticated", user_claims(users[actor])
        role = "anon" if actor == "viewer" else actor
        return role, {"role": role}


@pytest.fixture(scope="module")
def world_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """One owner connection for the whole module (autocommit, tuple rows)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def _as(conn: psycopg.Connection[Any], user: User, query: str, params: Any = None) -> Any:
    with acting_as(conn, "authenticated", user_claims(user)):
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


@pytest.fixture(scope="module")
def world(world_conn: psycopg.Connection[Any]) -> World:
    """The data every attempt works on, committed once for the module, made through
    the functions as the owner would."""
    conn = world_conn
    owner, other, recipient = (create_user(conn) for _ in range(3))
    made: dict[str, Any] = {}
    for name in ("gen", "spare", "trashed"):
        made[name] = conn.execute(
            "insert into public.user_generations (user_id, prompt, image_url, model)"
            " values (%s, 'matrix prompt', %s || '/' || gen_random_uuid() || '.webp', 'test/m')"
            " returning id::text, created_at, image_url",
            (owner.id, owner.id),
        ).fetchone()
    conn.execute(
        "insert into public.user_generations (user_id, prompt, image_url, model)"
        " values (%s, 'matrix prompt', %s, 'test/m')",
        (other.id, f"{other.id}/other.webp"),
    )
    gen, spare, trashed = made["gen"][0], made["spare"][0], made["trashed"][0]
    _as(conn, owner, "select count(*) from public.trash_generations(array[%s]::uuid[])", (trashed,))
    coll = str(_as(conn, owner, "select id from public.create_collection('Matrix')"))
    _as(conn, owner, "select public.add_to_collection(%s, array[%s]::uuid[])", (coll, gen))
    _as(conn, owner, "select public.tag_generations(array[%s]::uuid[], array['matrix'])", (gen,))
    _as(conn, owner, "select public.save_template('matrix', 'matrix {x}')")
    generation_share = str(
        _as(conn, owner, "select id from public.share_with(%s, %s)", (recipient.email, gen))
    )
    collection_share = str(
        _as(conn, owner, "select id from public.share_with(%s, null, %s)", (recipient.email, coll))
    )
    link, token = _as(
        conn, owner, "select id::text, token from public.create_public_link(%s)", (gen,)
    )
    return World(
        owner,
        other,
        recipient,
        gen,
        made["gen"][1],
        made["gen"][2],
        spare,
        made["spare"][1],
        trashed,
        coll,
        generation_share,
        collection_share,
        link,
        token,
    )


def attempt(conn: psycopg.Connection[Any], world: World, actor: str, query: str) -> str:
    """Run ``query`` as ``actor`` in a transaction that is rolled back; name the outcome."""
    role, claims = world.role_and_claims(actor)
    try:
        with acting_as(conn, role, claims):
            cur = conn.execute(query, world.params(actor))
            outcome = "rows" if cur.rowcount > 0 else "none"
            raise psycopg.Rollback
    except psycopg.Error as exc:
        return exc.sqlstate or "unknown"
    return outcome


def matches(outcome: str, expected: str) -> bool:
    return outcome == expected or (expected == "ok" and outcome in ("rows", "none"))


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

NO_API = ("42501", "42501")  # viewer and anon: no grant on any table
# Signed-in users hold SELECT only: every write is one of the functions.
SERVICE_ONLY: Outcomes = ("42501", "42501", "42501", *NO_API, "rows")

# (table, command, statement, expected outcome per actor in ACTORS order)
TABLE_CASES: list[tuple[str, str, str, Outcomes]] = [
    # A share gives no access to the owner's rows themselves.
    (
        "user_generations",
        "select",
        "select id from public.user_generations where id = %(gen)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "user_generations",
        "update",
        "update public.user_generations set starred = true, trashed_at = now()"
        " where id = %(gen)s returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "user_generations",
        "delete",
        "delete from public.user_generations where id = %(gen)s returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "collections",
        "select",
        "select id from public.collections where id = %(coll)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "collections",
        "insert",
        "insert into public.collections (user_id, name) values (%(owner)s, 'fresh') returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "collections",
        "update",
        "update public.collections set name = 'changed' where id = %(coll)s returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "collections",
        "delete",
        "delete from public.collections where id = %(coll)s returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "collection_items",
        "select",
        "select generation_id from public.collection_items where collection_id = %(coll)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "collection_items",
        "insert",
        "insert into public.collection_items"
        " (collection_id, generation_id, user_id, generation_created_at)"
        " values (%(coll)s, %(spare)s, %(owner)s, %(spare_created)s) returning generation_id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "collection_items",
        "update",
        "update public.collection_items set added_at = added_at"
        " where collection_id = %(coll)s returning generation_id",
        SERVICE_ONLY,
    ),
    (
        "collection_items",
        "delete",
        "delete from public.collection_items where collection_id = %(coll)s"
        " returning generation_id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "generation_tags",
        "select",
        "select tag from public.generation_tags where generation_id = %(gen)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "generation_tags",
        "insert",
        "insert into public.generation_tags (generation_id, tag, user_id, generation_created_at)"
        " values (%(gen)s, 'fresh', %(owner)s, %(gen_created)s) returning tag",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "generation_tags",
        "update",
        "update public.generation_tags set tag = 'changed' where generation_id = %(gen)s"
        " returning tag",
        SERVICE_ONLY,
    ),
    (
        "generation_tags",
        "delete",
        "delete from public.generation_tags where generation_id = %(gen)s returning tag",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "shares",
        "select",
        "select id from public.shares where id = %(share)s",
        ("rows", "none", "rows", *NO_API, "rows"),
    ),
    (
        "shares",
        "insert",
        "insert into public.shares (owner_id, recipient_id, generation_id)"
        " values (%(owner)s, %(other)s, %(gen)s) returning id",
        SERVICE_ONLY,
    ),
    (
        "shares",
        "update",
        "update public.shares set recipient_id = %(other)s where id = %(share)s returning id",
        SERVICE_ONLY,
    ),
    (
        "shares",
        "delete",
        "delete from public.shares where id = %(share)s returning id",
        SERVICE_ONLY,
    ),
    (
        "public_links",
        "select",
        "select id from public.public_links where id = %(link)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "public_links",
        "insert",
        "insert into public.public_links (owner_id, token_sha256, generation_id, expires_at)"
        " values (%(owner)s, %(token_hash)s, %(gen)s, now() + interval '1 day') returning id",
        SERVICE_ONLY,
    ),
    (
        "public_links",
        "update",
        "update public.public_links set expires_at = now() + interval '300 days'"
        " where id = %(link)s returning id",
        SERVICE_ONLY,
    ),
    (
        "public_links",
        "delete",
        "delete from public.public_links where id = %(link)s returning id",
        SERVICE_ONLY,
    ),
    (
        "prompt_templates",
        "select",
        "select id from public.prompt_templates where user_id = %(owner)s",
        ("rows", "none", "none", *NO_API, "rows"),
    ),
    (
        "prompt_templates",
        "insert",
        "insert into public.prompt_templates (user_id, name, prompt)"
        " values (%(owner)s, 'fresh', 'p') returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "prompt_templates",
        "update",
        "update public.prompt_templates set prompt = 'changed' where user_id = %(owner)s"
        " returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
    (
        "prompt_templates",
        "delete",
        "delete from public.prompt_templates where user_id = %(owner)s returning id",
        ("42501", "42501", "42501", *NO_API, "rows"),
    ),
]

ORGANISING_TABLES = {
    "collections",
    "collection_items",
    "generation_tags",
    "shares",
    "public_links",
    "prompt_templates",
}


def test_every_new_table_and_command_is_in_the_matrix() -> None:
    """Each new table has a case for each of select, insert, update and delete."""
    covered = {(table, command) for table, command, _, _ in TABLE_CASES}
    commands = ("select", "insert", "update", "delete")
    assert {(t, c) for t in ORGANISING_TABLES for c in commands} <= covered


@pytest.mark.parametrize(
    ("query", "actor", "expected"),
    [
        pytest.param(query, actor, expected, id=f"{table}-{command}-{actor}")
        for table, command, query, outcomes in TABLE_CASES
        for actor, expected in zip(ACTORS, outcomes, strict=True)
    ],
)
def test_table_access(
    world_conn: psycopg.Connection[Any], world: World, query: str, actor: str, expected: str
) -> None:
    """Each role gets exactly the table access the matrix grants it."""
    outcome = attempt(world_conn, world, actor, query)
    assert matches(outcome, expected), f"{actor}: got {outcome}, expected {expected}"


# ---------------------------------------------------------------------------
# Functions (the cases are in tests/support/organising_access.py)
# ---------------------------------------------------------------------------


def test_organising_functions_exist(world_conn: psycopg.Connection[Any]) -> None:
    """Every function of this matrix is in the database under that signature (the
    matrix of tests/test_ownership_sql.py checks that none is left out)."""
    found = {
        row[0]
        for row in world_conn.execute(
            "select format('%s(%s)', p.proname, pg_catalog.oidvectortypes(p.proargtypes))"
            "  from pg_catalog.pg_proc p where p.pronamespace = 'public'::regnamespace"
        )
    }
    assert set(FUNCTION_CASES) <= found, sorted(set(FUNCTION_CASES) - found)


@pytest.mark.parametrize(
    ("call", "actor", "expected"),
    [
        pytest.param(call, actor, expected, id=f"{signature.split('(')[0]}-{actor}")
        for signature, (call, outcomes) in FUNCTION_CASES.items()
        for actor, expected in zip(ACTORS, outcomes, strict=True)
    ],
)
def test_function_access(
    world_conn: psycopg.Connection[Any], world: World, call: str, actor: str, expected: str
) -> None:
    """Each role may call exactly the functions the matrix grants it, on what it may see."""
    outcome = attempt(world_conn, world, actor, call)
    assert matches(outcome, expected), f"{actor}: got {outcome}, expected {expected}"


def test_the_matrix_left_the_world_as_it_was(
    world_conn: psycopg.Connection[Any], world: World
) -> None:
    """After all the attempts, the owner's things are as they were made."""
    rows = world_conn.execute(
        "select (select count(*) from public.user_generations where user_id = %(owner)s),"
        "       (select count(*) from public.collection_items where collection_id = %(coll)s),"
        "       (select count(*) from public.shares where owner_id = %(owner)s),"
        "       (select count(*) from public.public_links"
        "         where owner_id = %(owner)s and revoked_at is null),"
        "       (select array_agg(tag) from public.generation_tags where generation_id = %(gen)s),"
        "       (select count(*) from public.prompt_templates where user_id = %(owner)s)",
        world.params("owner"),
    ).fetchone()
    assert rows == (3, 1, 2, 1, ["matrix"], 1)
