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
from tests.support.database import acting_as, scratch_database, storage_request
from tests.support.organising_access import ANON_FUNCTIONS
from tests.support.organising_access import FUNCTION_CASES as ORGANISING_FUNCTION_CASES
from tests.support.users import User, create_user, user_claims

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
            "select reservation_id from public.reserve_credit('matrix-hold')"
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
        ("42501", "42501", "42501", "rows"),
    ),
    # Provenance never changes, whoever asks: the freeze trigger refuses even
    # service_role. The organising columns change through the functions only.
    (
        "user_generations",
        "update",
        "update public.user_generations set prompt = 'changed' where id = %(gen)s returning id",
        ("42501", "42501", "42501", "42501"),
    ),
    (
        "user_generations",
        "update-starred",
        "update public.user_generations set starred = true where id = %(gen)s returning id",
        ("42501", "42501", "42501", "rows"),
    ),
    (
        "user_generations",
        "delete",
        "delete from public.user_generations where id = %(gen)s returning id",
        ("42501", "42501", "42501", "rows"),
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
    # Runs inside delete_generations and admin_purge_trash only.
    "genvault_unreferenced_paths(text, text[], uuid[])": (
        "select public.genvault_unreferenced_paths(%(owner)s, array['x/y.webp'], '{}')",
        ("42501", "42501", "42501", "42501"),
    ),
    "genvault_freeze_provenance()": (
        "select public.genvault_freeze_provenance()",
        ("42501", "42501", "42501", "42501"),
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
        ("42501", "42501", "42501", "ok"),
    ),
    "check_prompt(text)": (
        "select public.check_prompt(' matrix prompt ')",
        ("ok", "ok", "42501", "42501"),
    ),
    "genvault_prompt_problem(text)": (
        "select public.genvault_prompt_problem('matrix prompt')",
        ("ok", "ok", "42501", "42501"),
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
    "genvault_trim(text)": (
        "select public.genvault_trim(' matrix prompt ')",
        ("ok", "ok", "42501", "42501"),
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
    "reserve_credit(text)": (
        "select * from public.reserve_credit('matrix-new')",
        ("rows", "rows", "42501", "42501"),
    ),
    "search_generations(text, integer, timestamp with time zone, uuid)": (
        "select * from public.search_generations('matrix prompt') where id = %(gen)s",
        ("rows", "none", "42501", "42501"),
    ),
    # The summaries and the search index of history_at_scale.sql. The index's
    # expression runs as whoever writes a row (the functions' owner or
    # service_role); the rest is machinery nobody calls.
    "genvault_search_keys(text, text)": (
        "select public.genvault_search_keys(%(owner)s, 'matrix prompt')",
        ("42501", "42501", "42501", "ok"),
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


def _balance_and_ledger(admin: psycopg.Connection[Any], user: User) -> tuple[Any, ...]:
    row = admin.execute(
        "select (select credits from public.user_credits where user_id = %(u)s),"
        "       (select count(*) from public.credit_ledger where user_id = %(u)s),"
        "       (select count(*) from public.user_generations where user_id = %(u)s)",
        {"u": user.id},
    ).fetchone()
    assert row is not None
    return tuple(row.values())


def _refusal(admin: psycopg.Connection[Any], user: User, query: str, params: Any) -> str:
    """The SQLSTATE a statement run as ``user`` ends with ('' when it succeeds)."""
    try:
        with acting_as(admin, "authenticated", user_claims(user)):
            admin.execute(query, params)
    except psycopg.Error as exc:
        return exc.sqlstate or "unknown"
    return ""


def test_a_generation_cannot_be_written_without_spending_a_credit(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """One POST to /rest/v1/user_generations used to make a free image: now refused,
    and the balance, the ledger and the history are as they were."""
    me = make_user()
    before = _balance_and_ledger(admin, me)
    state = _refusal(
        admin,
        me,
        "insert into public.user_generations (user_id, prompt, image_url, model)"
        " values (%s, 'free image', %s, 'genvault/offline')",
        (me.id, f"{me.id}/{'a' * 64}.webp"),
    )
    assert state == "42501"
    assert _balance_and_ledger(admin, me) == before


@pytest.mark.parametrize(
    "assignment",
    [
        "prompt = 'rewritten'",
        "model = 'someone/else'",
        "params = '{\"seed\": 1}'",
        "image_sha256 = repeat('0', 64)",
        "image_url = user_id || '/other.webp'",
        "thumbnail_url = null",
        "image_bytes = 1",
        "created_at = now() - interval '1 year'",
        "user_id = user_id",
        "id = gen_random_uuid()",
        "starred = true",
        "trashed_at = now()",
    ],
)
def test_users_cannot_update_their_rows_directly(
    admin: psycopg.Connection[Any], make_generation: Any, assignment: str
) -> None:
    """No column of a generation changes through PATCH /rest/v1/user_generations:
    provenance never changes, and starring or trashing goes through the functions."""
    owner, generation = make_generation()
    before = admin.execute(
        "select * from public.user_generations where id = %s", (generation,)
    ).fetchone()
    state = _refusal(
        admin,
        owner,
        f"update public.user_generations set {assignment} where id = %s",
        (generation,),
    )
    assert state == "42501"
    after = admin.execute(
        "select * from public.user_generations where id = %s", (generation,)
    ).fetchone()
    assert after == before


@pytest.mark.parametrize(
    "assignment",
    [
        "prompt = 'rewritten'",
        "model = 'someone/else'",
        "params = '{\"seed\": 2}'",
        "image_sha256 = repeat('0', 64)",
        "image_url = user_id || '/other.webp'",
        "created_at = now() - interval '1 year'",
        "id = gen_random_uuid()",
    ],
)
def test_provenance_never_changes_even_for_the_operator(
    admin: psycopg.Connection[Any], make_generation: Any, assignment: str
) -> None:
    """The record of what was made is written once: the freeze trigger refuses a change
    from service_role and from the SQL editor too, while starring stays possible."""
    _, generation = make_generation()
    statement = f"update public.user_generations set {assignment} where id = %s"
    for role in ("service_role", "none"):
        with admin.transaction():
            admin.execute("select set_config('role', %s, true)", (role,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                admin.execute(statement, (generation,))
            raise psycopg.Rollback
        assert "cannot be changed after it is made" in str(caught.value)
    admin.execute("update public.user_generations set starred = true where id = %s", (generation,))


def test_users_cannot_delete_their_rows_directly(
    admin: psycopg.Connection[Any], make_generation: Any
) -> None:
    """DELETE /rest/v1/user_generations is refused: delete_generations() is the way, and it
    also says which stored files to remove."""
    owner, generation = make_generation()
    state = _refusal(
        admin, owner, "delete from public.user_generations where id = %s", (generation,)
    )
    assert state == "42501"
    assert admin.execute(
        "select count(*) as n from public.user_generations where id = %s", (generation,)
    ).fetchone() == {"n": 1}


@pytest.mark.parametrize("target", ["someone_elses", "random"])
def test_a_chosen_id_tells_nothing_about_other_users(
    admin: psycopg.Connection[Any], make_generation: Any, make_user: Any, target: str
) -> None:
    """Writing a generation or a collection with a chosen id answers the same for an id
    that exists for another user as for a random one: nobody can probe for ids."""
    _, theirs = make_generation()
    me = make_user()
    their_collection = admin.execute(
        "insert into public.collections (user_id, name) values"
        " ((select user_id from public.user_generations where id = %s), 'theirs') returning id",
        (theirs,),
    ).fetchone()
    assert their_collection is not None
    ids = (
        {"gen": theirs, "coll": their_collection["id"]}
        if target == "someone_elses"
        else {"gen": uuid.uuid4(), "coll": uuid.uuid4()}
    )
    answers = [
        _refusal(
            admin,
            me,
            "insert into public.user_generations (id, user_id, prompt, image_url)"
            " values (%(gen)s, %(me)s, 'probe', %(me)s || '/p.webp')",
            {**ids, "me": me.id},
        ),
        _refusal(
            admin,
            me,
            "insert into public.collections (id, user_id, name) values (%(coll)s, %(me)s, 'p')",
            {**ids, "me": me.id},
        ),
        _refusal(admin, me, "select * from public.reserve_credit('probe', %(gen)s)", {**ids}),
    ]
    assert answers == ["42501", "42501", "42883"]


def test_the_database_chooses_every_generation_id(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """reserve_credit picks the id; a retry with the same key reports it, not created."""
    me = make_user()
    with acting_as(admin, "authenticated", user_claims(me)):
        first = admin.execute("select * from public.reserve_credit('pick')").fetchone()
        again = admin.execute("select * from public.reserve_credit('pick')").fetchone()
        other = admin.execute("select * from public.reserve_credit('pick-2')").fetchone()
    assert first is not None
    assert again is not None
    assert other is not None
    assert first["created"] is True
    assert again["created"] is False
    assert again["reserved_for"] == first["reserved_for"]
    assert other["reserved_for"] != first["reserved_for"]


def test_image_url_in_another_users_folder_is_refused(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """record_generation with a path whose first folder is another user's breaks the
    check constraint (23514), and the reservation stays held."""
    me, victim = make_user(), make_user()
    with acting_as(admin, "authenticated", user_claims(me)):
        reservation = admin.execute("select * from public.reserve_credit('path')").fetchone()
    assert reservation is not None
    with (
        pytest.raises(psycopg.errors.CheckViolation) as caught,
        acting_as(admin, "authenticated", user_claims(me)),
    ):
        admin.execute(
            "select * from public.record_generation(%s, 'p', %s, 'test/model')",
            (reservation["reservation_id"], f"{victim.id}/theirs.webp"),
        )
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
