"""Who may touch what: every API role against every table and every public function.

Four actors, taken the way PostgREST takes them (``acting_as``): ``owner`` and
``other`` are two signed-in users, ``anon`` carries no user, and
``service_role`` is the operator's key. An attempt ends in one of:

* ``rows``  - it ran and returned or changed at least one row;
* ``none``  - it ran and saw nothing (Row Level Security filtered the rows);
* ``ok``    - it ran (the number of rows does not matter);
* a SQLSTATE - it was refused: ``42501`` is a missing grant or a policy's
  WITH CHECK, ``P0002`` another user's reservation that looks missing.

Every attempt is rolled back, so the matrix leaves the shared database as it
found it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from genvault._migrate import migrate, sql_dir
from tests.conftest import (
    User,
    acting_as,
    create_user,
    scratch_database,
    storage_request,
    user_claims,
)
from tests.test_ownership_organising_sql import ANON_FUNCTIONS
from tests.test_ownership_organising_sql import FUNCTION_CASES as ORGANISING_FUNCTION_CASES

ACTORS = ("owner", "other", "anon", "service_role")


@dataclass(frozen=True)
class World:
    """Two users, a generation each, and a held reservation of the owner's."""

    owner: User
    other: User
    owner_generation: str
    owner_reservation: str

    def params(self) -> dict[str, Any]:
        return {
            "owner": self.owner.id,
            "other": self.other.id,
            "gen": self.owner_generation,
            "res": self.owner_reservation,
            "fresh": str(uuid.uuid4()),
            "owner_path": f"{self.owner.id}/new.webp",
            "owner_file": f"{self.owner.id}/a.webp",
        }

    def role_and_claims(self, actor: str) -> tuple[str, dict[str, Any]]:
        if actor == "owner":
            return "authenticated", user_claims(self.owner)
        if actor == "other":
            return "authenticated", user_claims(self.other)
        return actor, {"role": actor}


@pytest.fixture(scope="module")
def world_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """One owner connection for the whole module (autocommit, tuple rows)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def world(world_conn: psycopg.Connection[Any]) -> World:
    """The data every matrix attempt works on, committed once for the module."""
    owner = create_user(world_conn, credits=5)
    other = create_user(world_conn, credits=5)
    generation = str(uuid.uuid4())
    world_conn.execute(
        "insert into public.user_generations (id, user_id, prompt, image_url)"
        " values (%s, %s, 'matrix prompt', %s), (gen_random_uuid(), %s, 'matrix prompt', %s)",
        (generation, owner.id, f"{owner.id}/a.webp", other.id, f"{other.id}/b.webp"),
    )
    with acting_as(world_conn, "authenticated", user_claims(owner)):
        row = world_conn.execute(
            "select reservation_id from public.reserve_credit('matrix-hold', gen_random_uuid())"
        ).fetchone()
    assert row is not None
    return World(owner, other, generation, str(row[0]))


def attempt(conn: psycopg.Connection[Any], world: World, actor: str, query: str) -> str:
    """Run ``query`` as ``actor`` in a transaction that is rolled back; name the outcome."""
    role, claims = world.role_and_claims(actor)
    try:
        with acting_as(conn, role, claims):
            cur = conn.execute(query, world.params())
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

# (table, command, statement, expected outcome per actor in ACTORS order)
TABLE_CASES: list[tuple[str, str, str, tuple[str, str, str, str]]] = [
    (
        "user_generations",
        "select",
        "select id from public.user_generations where id = %(gen)s",
        ("rows", "none", "42501", "rows"),
    ),
    (
        "user_generations",
        "insert",
        "insert into public.user_generations (user_id, prompt, image_url)"
        " values (%(owner)s, 'new', %(owner_path)s) returning id",
        ("rows", "42501", "42501", "rows"),
    ),
    (
        "user_generations",
        "update",
        "update public.user_generations set prompt = 'changed' where id = %(gen)s returning id",
        ("rows", "none", "42501", "rows"),
    ),
    (
        "user_generations",
        "delete",
        "delete from public.user_generations where id = %(gen)s returning id",
        ("rows", "none", "42501", "rows"),
    ),
    (
        "user_credits",
        "select",
        "select credits from public.user_credits where user_id = %(owner)s",
        ("rows", "none", "42501", "rows"),
    ),
    (
        "user_credits",
        "insert",
        "insert into public.user_credits (user_id) values (%(fresh)s) returning user_id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "user_credits",
        "update",
        "update public.user_credits set credits = credits + 100 where user_id = %(owner)s"
        " returning credits",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "user_credits",
        "delete",
        "delete from public.user_credits where user_id = %(owner)s returning user_id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "credit_ledger",
        "select",
        "select id from public.credit_ledger where user_id = %(owner)s",
        ("rows", "none", "42501", "rows"),
    ),
    (
        "credit_ledger",
        "insert",
        "insert into public.credit_ledger (user_id, delta, reason)"
        " values (%(owner)s, 100, 'grant') returning id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "credit_ledger",
        "update",
        "update public.credit_ledger set delta = delta where user_id = %(owner)s returning id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "credit_ledger",
        "delete",
        "delete from public.credit_ledger where user_id = %(owner)s returning id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "genvault_config",
        "select",
        "select starter_credits from public.genvault_config",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "genvault_config",
        "insert",
        "insert into public.genvault_config (id) values (true) on conflict (id) do nothing",
        ("42501", "42501", "42501", "ok"),
    ),
    (
        "genvault_config",
        "update",
        "update public.genvault_config set starter_credits = starter_credits returning id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "genvault_config",
        "delete",
        "delete from public.genvault_config returning id",
        ("42501", "42501", "42501", "rows"),
    ),
]


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

# function signature -> (call, expected outcome per actor in ACTORS order)
FUNCTION_CASES: dict[str, tuple[str, tuple[str, str, str, str]]] = {
    "admin_find_user(text)": (
        "select public.admin_find_user(%(owner)s)",
        ("42501", "42501", "42501", "rows"),
    ),
    "admin_images_per_user(integer)": (
        "select * from public.admin_images_per_user(5)",
        ("42501", "42501", "42501", "rows"),
    ),
    "admin_popular_prompts(integer)": (
        "select * from public.admin_popular_prompts(5)",
        ("42501", "42501", "42501", "rows"),
    ),
    "admin_purge_older_than(interval, boolean, integer)": (
        "select * from public.admin_purge_older_than('1 day', true)",
        ("42501", "42501", "42501", "ok"),
    ),
    "admin_purge_older_than_summary(interval)": (
        "select * from public.admin_purge_older_than_summary('1 day')",
        ("42501", "42501", "42501", "rows"),
    ),
    "admin_storage_estimate()": (
        "select * from public.admin_storage_estimate()",
        ("42501", "42501", "42501", "rows"),
    ),
    "admin_trends(text, integer)": (
        "select * from public.admin_trends('day', 3)",
        ("42501", "42501", "42501", "rows"),
    ),
    # Invoker rights: another user's rows are invisible to it, so for them it can
    # only echo the paths it was given back; it reveals nothing.
    "genvault_unreferenced_paths(text, text[], uuid[])": (
        "select public.genvault_unreferenced_paths(%(owner)s, array['x/y.webp'], '{}')",
        ("rows", "rows", "42501", "rows"),
    ),
    "delete_generations(uuid[])": (
        "select * from public.delete_generations(array[%(gen)s]::uuid[])",
        ("rows", "none", "42501", "42501"),
    ),
    "delete_my_account()": (
        "select * from public.delete_my_account()",
        ("rows", "rows", "42501", "42501"),
    ),
    "expire_reservations(interval)": (
        "select * from public.expire_reservations('0 seconds')",
        ("rows", "none", "42501", "rows"),
    ),
    "genvault_is_operator()": (
        "select public.genvault_is_operator()",
        ("ok", "ok", "42501", "ok"),
    ),
    "genvault_is_owned_path(text, text)": (
        "select public.genvault_is_owned_path(%(owner_file)s, %(owner)s)",
        ("ok", "ok", "42501", "ok"),
    ),
    "genvault_require_operator()": (
        "select public.genvault_require_operator()",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_require_user()": (
        "select public.genvault_require_user()",
        ("ok", "ok", "42501", "42501"),
    ),
    "genvault_touch_updated_at()": (
        "select public.genvault_touch_updated_at()",
        ("42501", "42501", "42501", "42501"),
    ),
    "get_generation(uuid)": (
        "select * from public.get_generation(%(gen)s)",
        ("rows", "none", "42501", "42501"),
    ),
    "grant_credits(text, integer, text)": (
        "select public.grant_credits(%(owner)s, 1)",
        ("42501", "42501", "42501", "ok"),
    ),
    "handle_deleted_auth_user()": (
        "select public.handle_deleted_auth_user()",
        ("42501", "42501", "42501", "42501"),
    ),
    "handle_new_auth_user()": (
        "select public.handle_new_auth_user()",
        ("42501", "42501", "42501", "42501"),
    ),
    "list_generations(integer, timestamp with time zone, uuid)": (
        "select * from public.list_generations(1000) where id = %(gen)s",
        ("rows", "none", "42501", "42501"),
    ),
    "my_credits()": (
        "select public.my_credits()",
        ("ok", "ok", "42501", "42501"),
    ),
    "my_ledger(integer, timestamp with time zone)": (
        "select * from public.my_ledger(1000) where user_id = %(owner)s",
        ("rows", "none", "42501", "42501"),
    ),
    "my_stats(integer, integer)": (
        "select public.my_stats()",
        ("ok", "ok", "42501", "42501"),
    ),
    "record_generation(uuid, text, text, text, jsonb, text, bigint, text)": (
        "select * from public.record_generation(%(res)s, 'recorded', %(owner_path)s, 'test/model')",
        ("rows", "P0002", "42501", "42501"),
    ),
    "referenced_paths(text[])": (
        "select * from public.referenced_paths(array[%(owner_file)s])",
        ("rows", "none", "42501", "42501"),
    ),
    "refund_credit(uuid)": (
        "select public.refund_credit(%(res)s)",
        ("ok", "P0002", "42501", "42501"),
    ),
    "reserve_credit(text, uuid)": (
        "select * from public.reserve_credit('matrix-new', gen_random_uuid())",
        ("rows", "rows", "42501", "42501"),
    ),
    "search_generations(text, integer, timestamp with time zone, uuid)": (
        "select * from public.search_generations('matrix prompt') where id = %(gen)s",
        ("rows", "none", "42501", "42501"),
    ),
    # The summaries and the search index of history_at_scale.sql. The index's
    # expression runs as whoever writes a row; the rest is machinery nobody calls.
    "genvault_search_keys(text, text)": (
        "select public.genvault_search_keys(%(owner)s, 'matrix prompt')",
        ("ok", "ok", "42501", "ok"),
    ),
    "genvault_search_term_keys(text, text)": (
        "select public.genvault_search_term_keys(%(owner)s, 'matrix')",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_prompt_key(text)": (
        "select public.genvault_prompt_key('matrix prompt')",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_count_generation(text, text, timestamp with time zone, bigint, integer)": (
        "select public.genvault_count_generation(%(owner)s, 'matrix prompt', now(), 1, 1)",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_summarise_generation()": (
        "select public.genvault_summarise_generation()",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_count_spend()": (
        "select public.genvault_count_spend()",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_rebuild_summaries()": (
        "select public.genvault_rebuild_summaries()",
        ("42501", "42501", "42501", "ok"),
    ),
}

_PUBLIC_FUNCTIONS = """
select format('%s(%s)', p.proname, pg_catalog.oidvectortypes(p.proargtypes))
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace
"""


def test_every_public_function_is_in_the_matrix(world_conn: psycopg.Connection[Any]) -> None:
    """A new function in public must be added, with its access rules, to FUNCTION_CASES
    here or (for organising.sql) to the matrix of tests/test_ownership_organising_sql.py."""
    found = {row[0] for row in world_conn.execute(_PUBLIC_FUNCTIONS)}
    covered = set(FUNCTION_CASES) | set(ORGANISING_FUNCTION_CASES)
    assert found == covered, (
        f"missing from the matrices: {sorted(found - covered)}; "
        f"no longer in the database: {sorted(covered - found)}"
    )


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
    """Each role may call exactly the functions the matrix grants it, on its own data."""
    outcome = attempt(world_conn, world, actor, call)
    assert matches(outcome, expected), f"{actor}: got {outcome}, expected {expected}"


# ---------------------------------------------------------------------------
# The promises behind the matrix, one by one
# ---------------------------------------------------------------------------


def test_insert_under_another_users_id_is_refused(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """WITH CHECK refuses a row whose user_id is not the caller's (42501)."""
    me, victim = make_user(), make_user()
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(admin, "authenticated", user_claims(me)),
    ):
        admin.execute(
            "insert into public.user_generations (user_id, prompt, image_url)"
            " values (%s, 'planted', %s)",
            (victim.id, f"{victim.id}/planted.webp"),
        )


def test_handing_a_row_to_another_user_is_refused(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """Updating user_id to someone else fails the update policy's WITH CHECK (42501)."""
    me, victim = make_user(), make_user()
    row = admin.execute(
        "insert into public.user_generations (user_id, prompt, image_url)"
        " values (%s, 'mine', %s) returning id",
        (me.id, f"{me.id}/mine.webp"),
    ).fetchone()
    assert row is not None
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(admin, "authenticated", user_claims(me)),
    ):
        admin.execute(
            "update public.user_generations set user_id = %s where id = %s", (victim.id, row["id"])
        )


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            "insert into public.user_generations (user_id, prompt, image_url)"
            " values (%(me)s, 'p', %(path)s)",
            id="insert",
        ),
        pytest.param(
            "update public.user_generations set image_url = %(path)s where id = %(id)s",
            id="update",
        ),
    ],
)
def test_image_url_in_another_users_folder_is_refused(
    admin: psycopg.Connection[Any], make_user: Any, statement: str
) -> None:
    """A path whose first folder is another user's breaks the check constraint (23514)."""
    me, victim = make_user(), make_user()
    row = admin.execute(
        "insert into public.user_generations (user_id, prompt, image_url)"
        " values (%s, 'mine', %s) returning id",
        (me.id, f"{me.id}/mine.webp"),
    ).fetchone()
    assert row is not None
    params = {"me": me.id, "id": row["id"], "path": f"{victim.id}/theirs.webp"}
    with (
        pytest.raises(psycopg.errors.CheckViolation) as caught,
        acting_as(admin, "authenticated", user_claims(me)),
    ):
        admin.execute(statement, params)
    assert caught.value.diag.constraint_name == "user_generations_image_url_shape"


def test_every_table_in_our_schemas_has_rls_enabled(admin: psycopg.Connection[Any]) -> None:
    """No table in public or genvault_meta is left without Row Level Security."""
    rows = admin.execute(
        "select n.nspname || '.' || c.relname as name, c.relrowsecurity as rls"
        "  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('public', 'genvault_meta') and c.relkind in ('r', 'p')"
    ).fetchall()
    assert {r["name"] for r in rows} >= {
        "public.user_generations",
        "public.user_credits",
        "public.credit_ledger",
        "public.genvault_config",
        "public.collections",
        "public.collection_items",
        "public.generation_tags",
        "public.shares",
        "public.public_links",
        "public.prompt_templates",
        "genvault_meta.migrations",
    }
    assert [r["name"] for r in rows if not r["rls"]] == []


def test_security_definer_functions_pin_an_empty_search_path(
    admin: psycopg.Connection[Any],
) -> None:
    """Every SECURITY DEFINER function in public runs with search_path="" (splinter 0011)."""
    rows = admin.execute(
        "select p.proname, p.proconfig from pg_catalog.pg_proc p"
        " where p.pronamespace = 'public'::regnamespace and p.prosecdef"
    ).fetchall()
    assert rows, "expected security definer functions in public"
    assert {
        r["proname"]: r["proconfig"] for r in rows if r["proconfig"] != ['search_path=""']
    } == {}


def test_anon_can_execute_no_public_function(admin: psycopg.Connection[Any]) -> None:
    """Nothing in public is callable over /rest/v1/rpc without signing in, except
    opening a public link."""
    rows = admin.execute(
        "select p.oid::regprocedure::text as name,"
        "       pg_catalog.has_function_privilege('anon', p.oid, 'execute') as anon"
        "  from pg_catalog.pg_proc p where p.pronamespace = 'public'::regnamespace"
    ).fetchall()
    assert len(rows) >= len(FUNCTION_CASES)
    assert {r["name"] for r in rows if r["anon"]} == ANON_FUNCTIONS


# ---------------------------------------------------------------------------
# storage.sql, on the local layer's storage schema (supabase_compat.sql)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def storage_db(server_url: str) -> Iterator[str]:
    """A migrated database of its own, with a second bucket beside genvault's."""
    with scratch_database(server_url) as url:
        statuses = {r.name: r.status for r in migrate(url)}
        assert statuses["storage.sql"] == "applied"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("insert into storage.buckets (id, name) values ('elsewhere', 'elsewhere')")
        yield url


@pytest.fixture
def storage_conn(storage_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(storage_db, autocommit=True) as conn:
        yield conn


def test_storage_sql_applies_twice(storage_conn: psycopg.Connection[Any]) -> None:
    """Applying storage.sql again leaves one private bucket and the same policies: its
    four, and the read-only one of storage_sharing.sql for share recipients."""
    storage_conn.execute((sql_dir() / "storage.sql").read_text().encode())
    buckets = storage_conn.execute(
        "select id, public, file_size_limit, allowed_mime_types from storage.buckets"
        " where id = 'generations'"
    ).fetchall()
    assert buckets == [("generations", False, 52428800, ["image/webp", "image/png", "image/jpeg"])]
    policies = storage_conn.execute(
        "select cmd, roles from pg_catalog.pg_policies"
        " where schemaname = 'storage' and tablename = 'objects' order by cmd"
    ).fetchall()
    assert policies == [
        (cmd, ["authenticated"]) for cmd in ("DELETE", "INSERT", "SELECT", "SELECT", "UPDATE")
    ]


def _put_object(conn: psycopg.Connection[Any], bucket: str, name: str) -> None:
    conn.execute("insert into storage.objects (bucket_id, name) values (%s, %s)", (bucket, name))


def test_storage_user_sees_only_their_own_folder(storage_conn: psycopg.Connection[Any]) -> None:
    """A user lists their own files, not another user's, nor other buckets' files."""
    me, them = create_user(storage_conn), create_user(storage_conn)
    _put_object(storage_conn, "generations", f"{me.id}/mine.webp")
    _put_object(storage_conn, "generations", f"{them.id}/theirs.webp")
    _put_object(storage_conn, "elsewhere", f"{me.id}/other-bucket.webp")
    with acting_as(storage_conn, "authenticated", user_claims(me)):
        names = [r[0] for r in storage_conn.execute("select name from storage.objects")]
    assert names == [f"{me.id}/mine.webp"]


def test_storage_upload_only_into_own_folder(storage_conn: psycopg.Connection[Any]) -> None:
    """Uploading into another user's folder is refused (42501); into one's own works."""
    me, them = create_user(storage_conn), create_user(storage_conn)
    with acting_as(storage_conn, "authenticated", user_claims(me)):
        _put_object(storage_conn, "generations", f"{me.id}/ok.webp")
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(storage_conn, "authenticated", user_claims(me)),
    ):
        _put_object(storage_conn, "generations", f"{them.id}/planted.webp")


def test_storage_cannot_change_or_remove_another_users_files(
    storage_conn: psycopg.Connection[Any],
) -> None:
    """Another user's files can be neither renamed into one's folder nor deleted."""
    me, them = create_user(storage_conn), create_user(storage_conn)
    _put_object(storage_conn, "generations", f"{them.id}/theirs.webp")
    with storage_request(storage_conn, user_claims(me)):
        moved = storage_conn.execute(
            "update storage.objects set name = %s where name = %s",
            (f"{me.id}/stolen.webp", f"{them.id}/theirs.webp"),
        ).rowcount
        deleted = storage_conn.execute(
            "delete from storage.objects where name = %s", (f"{them.id}/theirs.webp",)
        ).rowcount
    assert (moved, deleted) == (0, 0)
    still = storage_conn.execute(
        "select count(*) from storage.objects where name = %s", (f"{them.id}/theirs.webp",)
    ).fetchone()
    assert still == (1,)


def test_storage_objects_are_deleted_through_the_storage_api_only(
    storage_conn: psycopg.Connection[Any],
) -> None:
    """A DELETE outside Storage's own requests is refused (42501), even for the owner
    and the database owner, so no file's bytes are left behind without their row;
    the owner's delete through the API goes through."""
    me = create_user(storage_conn)
    name = f"{me.id}/mine.webp"
    _put_object(storage_conn, "generations", name)
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="Storage API"),
        acting_as(storage_conn, "authenticated", user_claims(me)),
    ):
        storage_conn.execute("delete from storage.objects where name = %s", (name,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        storage_conn.execute("delete from storage.objects where name = %s", (name,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        storage_conn.execute("delete from storage.buckets where id = 'elsewhere'")
    with storage_request(storage_conn, user_claims(me)):
        gone = storage_conn.execute(
            "delete from storage.objects where name = %s returning name", (name,)
        ).fetchall()
    assert gone == [(name,)]


def test_storage_cannot_move_own_file_into_another_folder(
    storage_conn: psycopg.Connection[Any],
) -> None:
    """The update policy's WITH CHECK keeps a moved file inside the caller's folder."""
    me, them = create_user(storage_conn), create_user(storage_conn)
    _put_object(storage_conn, "generations", f"{me.id}/mine.webp")
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(storage_conn, "authenticated", user_claims(me)),
    ):
        storage_conn.execute(
            "update storage.objects set name = %s where name = %s",
            (f"{them.id}/gift.webp", f"{me.id}/mine.webp"),
        )


def test_verify_sql_checks_the_bucket_and_storage_policies(
    storage_conn: psycopg.Connection[Any],
) -> None:
    """verify.sql passes with storage.sql applied and fails loudly on a public bucket."""
    verify_sql = (sql_dir() / "verify.sql").read_text().encode()
    with storage_conn.transaction():
        storage_conn.execute(verify_sql)
        raise psycopg.Rollback
    with storage_conn.transaction():
        storage_conn.execute("update storage.buckets set public = true where id = 'generations'")
        with pytest.raises(psycopg.Error) as caught, storage_conn.transaction():
            storage_conn.execute(verify_sql)
        raise psycopg.Rollback
    assert caught.value.sqlstate == "P0004"
    assert 'bucket "generations" is public' in str(caught.value.diag.message_detail)
