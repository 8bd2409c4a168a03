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

from tests.conftest import User, acting_as, create_user, user_claims

ACTORS = ("owner", "other", "recipient", "viewer", "anon", "service_role")
Outcomes = tuple[str, str, str, str, str, str]


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
# Functions
# ---------------------------------------------------------------------------

SIGNED_IN_ONLY = ("42501", "42501", "42501")  # viewer, anon, service_role
NOBODY: Outcomes = ("42501",) * 6

# function signature -> (call, expected outcome per actor in ACTORS order)
FUNCTION_CASES: dict[str, tuple[str, Outcomes]] = {
    "find_generations(integer, text, timestamp with time zone, uuid, boolean, text,"
    " timestamp with time zone, timestamp with time zone, text, boolean, uuid, text[],"
    " boolean)": (
        "select * from public.find_generations() where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "list_generations(integer, timestamp with time zone, uuid)": (
        "select * from public.list_generations(1000) where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "search_generations(text, integer, timestamp with time zone, uuid)": (
        "select * from public.search_generations('matrix prompt') where id = %(gen)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "star_generations(uuid[], boolean)": (
        "select * from public.star_generations(array[%(gen)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "trash_generations(uuid[])": (
        "select * from public.trash_generations(array[%(gen)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "restore_generations(uuid[])": (
        "select * from public.restore_generations(array[%(trashed)s]::uuid[])",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "empty_trash(integer)": (
        "select * from public.empty_trash()",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "admin_purge_trash(interval, integer)": (
        "select * from public.admin_purge_trash('0 seconds') where id = %(trashed)s",
        ("42501", "42501", "42501", "42501", "42501", "rows"),
    ),
    "tag_generations(uuid[], text[])": (
        "select n from public.tag_generations(array[%(gen)s]::uuid[], array['fresh']) n"
        " where n > 0",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "untag_generations(uuid[], text[])": (
        "select n from public.untag_generations(array[%(gen)s]::uuid[], array['matrix']) n"
        " where n > 0",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_tags()": (
        "select * from public.my_tags() where tag = 'matrix'",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "create_collection(text)": (
        "select * from public.create_collection('fresh')",
        ("rows", "rows", "rows", *SIGNED_IN_ONLY),
    ),
    "rename_collection(uuid, text)": (
        "select * from public.rename_collection(%(coll)s, 'renamed')",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "delete_collection(uuid)": (
        "select d from public.delete_collection(%(coll)s) d where d",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_collections()": (
        "select * from public.my_collections() where id = %(coll)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "add_to_collection(uuid, uuid[])": (
        "select n from public.add_to_collection(%(coll)s, array[%(spare)s]::uuid[]) n where n > 0",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "remove_from_collection(uuid, uuid[])": (
        "select n from public.remove_from_collection(%(coll)s, array[%(gen)s]::uuid[]) n"
        " where n > 0",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "share_with(text, uuid, uuid)": (
        "select * from public.share_with(%(other_email)s, %(gen)s)",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "unshare(uuid)": (
        "select u from public.unshare(%(share)s) u where u",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_shares()": (
        "select * from public.my_shares() where id = %(share)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "shared_with_me()": (
        "select * from public.shared_with_me() where id in (%(share)s, %(coll_share)s)",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "shared_generations(uuid, integer, timestamp with time zone, uuid, uuid)": (
        "select * from public.shared_generations() where id = %(gen)s",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "create_public_link(uuid, uuid, interval)": (
        "select * from public.create_public_link(%(gen)s)",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    "revoke_public_link(uuid)": (
        "select r from public.revoke_public_link(%(link)s) r where r",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "my_public_links()": (
        "select * from public.my_public_links() where id = %(link)s",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    # Whoever holds the token sees the image; the anon actor's guess sees nothing.
    "open_public_link(text, integer, timestamp with time zone, uuid)": (
        "select * from public.open_public_link(%(token)s) where id = %(gen)s",
        ("rows", "rows", "rows", "rows", "none", "42501"),
    ),
    "save_template(text, text, text, jsonb)": (
        "select public.save_template('fresh', 'a {b}')",
        ("rows", "rows", "rows", *SIGNED_IN_ONLY),
    ),
    "my_templates()": (
        "select * from public.my_templates() where name = 'matrix'",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "delete_template(text)": (
        "select d from public.delete_template('matrix') d where d",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    "render_template(text, jsonb)": (
        "select * from public.render_template('matrix', '{\"x\": \"y\"}')",
        ("rows", "P0002", "P0002", *SIGNED_IN_ONLY),
    ),
    # Helpers. Those that run only inside SECURITY DEFINER functions are granted to
    # nobody; those granted to users run with the caller's rights, so another
    # user's rows stay invisible to them.
    "genvault_normalise_tags(text[])": (
        "select public.genvault_normalise_tags(array[' A '])",
        NOBODY,
    ),
    "genvault_check_ids(uuid[])": (
        "select public.genvault_check_ids(array[%(gen)s]::uuid[])",
        NOBODY,
    ),
    "genvault_collection_name(text)": (
        "select public.genvault_collection_name(' x ')",
        NOBODY,
    ),
    "genvault_owned_collection(uuid, text)": (
        "select public.genvault_owned_collection(%(coll)s, %(owner)s)",
        NOBODY,
    ),
    "genvault_placeholders(text)": (
        "select public.genvault_placeholders('{a} {b}')",
        ("ok", "ok", "ok", *SIGNED_IN_ONLY),
    ),
    "genvault_history_bounds(text)": (
        "select * from public.genvault_history_bounds(%(owner)s) where first_at is not null",
        ("rows", "none", "none", *SIGNED_IN_ONLY),
    ),
    # Storage's question for the share policy of storage_sharing.sql: only a recipient
    # gets a yes for the owner's file.
    "genvault_is_shared_file(text)": (
        "select 1 where public.genvault_is_shared_file(%(gen_path)s)",
        ("none", "none", "rows", *SIGNED_IN_ONLY),
    ),
    "genvault_limit_tags()": ("select public.genvault_limit_tags()", NOBODY),
    "genvault_check_collection_item()": (
        "select public.genvault_check_collection_item()",
        NOBODY,
    ),
    "genvault_is_counted(user_generations)": (
        "select public.genvault_is_counted(g) from public.user_generations g limit 1",
        NOBODY,
    ),
    "genvault_tags_of(uuid)": ("select public.genvault_tags_of(%(gen)s)", NOBODY),
    "genvault_check_share_target(text, uuid, uuid)": (
        "select public.genvault_check_share_target(%(owner)s, %(gen)s, null)",
        NOBODY,
    ),
}

# What a visitor without an account may call: opening a link, nothing else.
ANON_FUNCTIONS = {"open_public_link(text,integer,timestamp with time zone,uuid)"}


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
