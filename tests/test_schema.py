"""The schema as a whole: migrating, its shape, verify.sql, query plans, the Supabase layout.

Tests that break the schema on purpose do it in a scratch database of their
own; tests that add rows to the shared one do it in a transaction that is
rolled back.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault._migrate import MIGRATIONS, migrate, sql_dir, verify
from tests.conftest import scratch_database

REPO = Path(__file__).resolve().parents[1]
SUPABASE = REPO / "supabase"


@pytest.fixture
def scratch_url(server_url: str) -> Iterator[str]:
    """A freshly migrated database that a test may damage."""
    with scratch_database(server_url) as url:
        migrate(url)
        yield url


@contextmanager
def rolled_back(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """One transaction on ``conn`` that is always rolled back."""
    with conn.transaction():
        yield conn
        raise psycopg.Rollback


# ---------------------------------------------------------------------------
# Migrating
# ---------------------------------------------------------------------------


def test_second_migrate_changes_nothing(database_url: str) -> None:
    """Re-running the migrations on a migrated database reports every file unchanged."""
    statuses = {r.name: r.status for r in migrate(database_url)}
    assert statuses == {
        "supabase_compat.sql": "unchanged",
        "credits.sql": "unchanged",
        "add_image_storage.sql": "unchanged",
        "monitoring.sql": "unchanged",
        "storage.sql": "skipped",  # no Supabase Storage schema on plain PostgreSQL
    }


def test_changed_file_is_reported_as_drift(scratch_url: str) -> None:
    """A file whose checksum no longer matches the recorded one is drift, and left alone."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            "update genvault_meta.migrations set checksum = 'edited' where name = 'monitoring.sql'"
        )
    results = {r.name: r for r in migrate(scratch_url)}
    assert results["monitoring.sql"].status == "drift"
    assert "changed after it was applied" in results["monitoring.sql"].detail
    assert results["credits.sql"].status == "unchanged"
    with psycopg.connect(scratch_url) as conn:
        row = conn.execute(
            "select checksum from genvault_meta.migrations where name = 'monitoring.sql'"
        ).fetchone()
    assert row == ("edited",)


# ---------------------------------------------------------------------------
# Shape: columns, keys, indexes, policies, grants
# ---------------------------------------------------------------------------

COLUMNS = {
    "user_generations": [
        ("id", "uuid", "NO"),
        ("user_id", "text", "NO"),
        ("prompt", "text", "NO"),
        ("image_url", "text", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
        ("model", "text", "NO"),
        ("params", "jsonb", "NO"),
        ("thumbnail_url", "text", "YES"),
        ("image_bytes", "bigint", "YES"),
        ("image_sha256", "text", "YES"),
    ],
    "user_credits": [
        ("user_id", "text", "NO"),
        ("credits", "integer", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ],
    "credit_ledger": [
        ("id", "uuid", "NO"),
        ("user_id", "text", "NO"),
        ("delta", "integer", "NO"),
        ("reason", "text", "NO"),
        ("generation_id", "uuid", "YES"),
        ("idempotency_key", "text", "YES"),
        ("settles", "uuid", "YES"),
        ("created_at", "timestamp with time zone", "NO"),
    ],
    "genvault_config": [
        ("id", "boolean", "NO"),
        ("starter_credits", "integer", "NO"),
        ("reservation_ttl", "interval", "NO"),
    ],
}


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_table_columns(admin: psycopg.Connection[Any], table: str) -> None:
    """Each table has exactly these columns, types and nullability, in this order."""
    rows = admin.execute(
        "select column_name, data_type, is_nullable from information_schema.columns"
        " where table_schema = 'public' and table_name = %s order by ordinal_position",
        (table,),
    ).fetchall()
    assert [(r["column_name"], r["data_type"], r["is_nullable"]) for r in rows] == COLUMNS[table]


def test_keys(admin: psycopg.Connection[Any]) -> None:
    """Primary, unique and foreign keys, with the cascades that erase a user's data."""
    rows = admin.execute(
        "select conname, pg_catalog.pg_get_constraintdef(oid, true) as def"
        "  from pg_catalog.pg_constraint"
        " where connamespace = 'public'::regnamespace and contype in ('p', 'u', 'f')"
    ).fetchall()
    assert {r["conname"]: r["def"].replace("public.", "") for r in rows} == {
        "genvault_config_pkey": "PRIMARY KEY (id)",
        "user_credits_pkey": "PRIMARY KEY (user_id)",
        "credit_ledger_pkey": "PRIMARY KEY (id)",
        "credit_ledger_key_unique": "UNIQUE (user_id, idempotency_key)",
        "credit_ledger_settles_key": "UNIQUE (settles)",
        "credit_ledger_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "credit_ledger_settles_fkey": (
            "FOREIGN KEY (settles) REFERENCES credit_ledger(id) ON DELETE CASCADE"
        ),
        "user_generations_pkey": "PRIMARY KEY (id)",
        "user_generations_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
    }


def test_indexes(admin: psycopg.Connection[Any]) -> None:
    """The indexes behind history pages, search, the ledger and the expiry sweep."""
    rows = admin.execute(
        "select indexname, indexdef from pg_catalog.pg_indexes"
        " where schemaname = 'public' and right(indexname, 4) = '_idx'"
    ).fetchall()
    assert {r["indexname"]: r["indexdef"] for r in rows} == {
        "user_generations_user_created_idx": (
            "CREATE INDEX user_generations_user_created_idx ON public.user_generations"
            " USING btree (user_id, created_at DESC, id DESC)"
        ),
        "user_generations_prompt_trgm_idx": (
            "CREATE INDEX user_generations_prompt_trgm_idx ON public.user_generations"
            " USING gin (prompt extensions.gin_trgm_ops)"
        ),
        "credit_ledger_user_created_idx": (
            "CREATE INDEX credit_ledger_user_created_idx ON public.credit_ledger"
            " USING btree (user_id, created_at DESC)"
        ),
        "credit_ledger_open_reservations_idx": (
            "CREATE INDEX credit_ledger_open_reservations_idx ON public.credit_ledger"
            " USING btree (created_at) WHERE (reason = 'reserve'::text)"
        ),
    }


def test_policies(admin: psycopg.Connection[Any]) -> None:
    """One policy per command on user_generations, read-only policies on credits."""
    rows = admin.execute(
        "select tablename, policyname, cmd, roles, permissive from pg_catalog.pg_policies"
        " where schemaname = 'public'"
    ).fetchall()
    found = {
        (r["tablename"], r["policyname"]): (r["cmd"], r["roles"], r["permissive"]) for r in rows
    }
    expected = {
        ("user_generations", "Users can view their own generations"): "SELECT",
        ("user_generations", "Users can insert their own generations"): "INSERT",
        ("user_generations", "Users can update their own generations"): "UPDATE",
        ("user_generations", "Users can delete their own generations"): "DELETE",
        ("user_credits", "Users can read their own credits"): "SELECT",
        ("credit_ledger", "Users can read their own ledger"): "SELECT",
    }
    assert found == {key: (cmd, ["authenticated"], "PERMISSIVE") for key, cmd in expected.items()}


_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
_ROLES = ["anon", "authenticated", "service_role"]
_USER_WRITES = {"SELECT", "INSERT", "UPDATE", "DELETE"}
GRANTS: dict[str, dict[str, set[str]]] = {
    "user_generations": {"authenticated": _USER_WRITES, "service_role": set(_PRIVILEGES)},
    "user_credits": {"authenticated": {"SELECT"}, "service_role": set(_PRIVILEGES)},
    "credit_ledger": {"authenticated": {"SELECT"}, "service_role": set(_PRIVILEGES)},
    "genvault_config": {"service_role": set(_PRIVILEGES)},
}


@pytest.mark.parametrize("table", sorted(GRANTS))
def test_table_grants(admin: psycopg.Connection[Any], table: str) -> None:
    """anon holds nothing, users read (and write only their generations), service_role all."""
    rows = admin.execute(
        "select r.role, p.privilege"
        "  from unnest(%s::text[]) as r (role), unnest(%s::text[]) as p (privilege)"
        " where pg_catalog.has_table_privilege(r.role, %s::regclass, p.privilege)",
        (_ROLES, _PRIVILEGES, f"public.{table}"),
    ).fetchall()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["role"], set()).add(row["privilege"])
    assert found == GRANTS[table]


# ---------------------------------------------------------------------------
# verify.sql
# ---------------------------------------------------------------------------


def test_verify_passes_on_a_migrated_database(database_url: str) -> None:
    """genvault._migrate.verify reports every check as passed on a fresh migration."""
    results = verify(database_url)
    assert len(results) > 20
    assert [(check, detail) for check, ok, detail in results if not ok] == []


def test_verify_reports_rls_turned_off(scratch_url: str) -> None:
    """With RLS disabled on user_generations, verify names that failed check."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("alter table public.user_generations disable row level security")
    failed = [check for check, ok, _ in verify(scratch_url) if not ok]
    assert failed == ["rls enabled on public.user_generations"]


def _run_whole_verify_file(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute((sql_dir() / "verify.sql").read_text().encode())
        conn.rollback()


def test_verify_file_runs_clean_as_a_whole(database_url: str) -> None:
    """Pasted whole (as into the SQL editor), verify.sql raises nothing on a good schema."""
    _run_whole_verify_file(database_url)


def test_verify_file_fails_loudly_when_a_check_fails(scratch_url: str) -> None:
    """Pasted whole, verify.sql raises P0004 listing each failed check."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute('drop policy "Users can read their own ledger" on public.credit_ledger')
    with pytest.raises(psycopg.Error) as caught:
        _run_whole_verify_file(scratch_url)
    assert caught.value.sqlstate == "P0004"
    assert "policy credit_ledger: Users can read their own ledger: missing" in str(
        caught.value.diag.message_detail
    )


# ---------------------------------------------------------------------------
# Query plans
# ---------------------------------------------------------------------------

_USERS = (
    "a0000000-0000-4000-8000-00000000000a",
    "b0000000-0000-4000-8000-00000000000b",
    "c0000000-0000-4000-8000-00000000000c",
)


def _fill_history(conn: psycopg.Connection[Any]) -> None:
    """3,000 generations over three users; 1 prompt in 500 mentions a zebra."""
    for user in _USERS:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@t.test"))
    conn.execute(
        "insert into public.user_generations (user_id, prompt, image_url, created_at)"
        " select u.id, 'a picture of item ' || n"
        "         || case when n %% 500 = 0 then ' with a zebra' else ' in a field' end,"
        "        u.id || '/' || n || '.webp', now() - n * interval '1 minute'"
        "   from generate_series(1, 3000) n"
        "   join unnest(%s::text[]) with ordinality as u(id, k) on u.k = 1 + n %% 3",
        (list(_USERS),),
    )
    conn.execute("analyze public.user_generations")


def _indexes_in_plan(conn: psycopg.Connection[Any], query: str) -> set[str]:
    row = conn.execute(f"explain (format json) {query}").fetchone()
    assert row is not None
    names: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            names.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    plan = next(iter(row.values())) if isinstance(row, dict) else row[0]
    walk((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return names


def test_history_page_uses_the_user_created_index(admin: psycopg.Connection[Any]) -> None:
    """A user's newest-first page, under RLS, walks user_generations_user_created_idx."""
    me = _USERS[0]
    with rolled_back(admin):
        _fill_history(admin)
        admin.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": me, "role": "authenticated"}),),
        )
        used = _indexes_in_plan(
            admin,
            f"select * from public.user_generations where user_id = '{me}'"
            " order by created_at desc, id desc limit 50",
        )
    assert "user_generations_user_created_idx" in used


def test_prompt_substring_search_can_use_the_trigram_index(
    admin: psycopg.Connection[Any],
) -> None:
    """ILIKE '%term%' (3+ characters) is served by user_generations_prompt_trgm_idx.

    Two facts shape this test. At a few thousand rows a sequential scan is
    cheaper than any index, so enable_seqscan is turned off: if the trigram
    index could not serve the pattern, the plan would still be a (penalised)
    sequential scan, so finding the index proves it matches the predicate.
    And the query runs as the table owner, outside RLS: ILIKE is not
    leakproof, so under a policy PostgreSQL will not push it into an index
    scan, and a user's search goes through user_created_idx on user_id.
    """
    with rolled_back(admin):
        _fill_history(admin)
        admin.execute("set local enable_seqscan = off")
        used = _indexes_in_plan(
            admin, "select id from public.user_generations where prompt ilike '%zebra%'"
        )
    assert used == {"user_generations_prompt_trgm_idx"}


# ---------------------------------------------------------------------------
# The Supabase CLI layout
# ---------------------------------------------------------------------------


def test_supabase_migrations_link_to_the_database_files_in_order() -> None:
    """supabase/migrations holds relative links, one per file the runner applies there."""
    links = sorted((SUPABASE / "migrations").iterdir())
    assert all(link.is_symlink() for link in links)
    assert all(not Path(link.readlink()).is_absolute() for link in links)
    targets = [link.resolve() for link in links]
    expected = [
        (REPO / "database" / m.name).resolve() for m in MIGRATIONS if not m.plain_postgres_only
    ]
    assert targets == expected
    assert all(link.name.split("_", 1)[0].isdigit() for link in links)


def test_supabase_config_names_the_project_and_the_seed() -> None:
    """config.toml parses, names the project genvault and seeds from seed.sql."""
    config = tomllib.loads((SUPABASE / "config.toml").read_text())
    assert config["project_id"] == "genvault"
    assert config["db"]["seed"]["sql_paths"] == ["./seed.sql"]


DEMO_ID = "d0000000-0000-4000-8000-000000000001"


def _demo_user(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute(
        "select u.email, c.credits,"
        " (select count(*) from auth.users where id = %(id)s) as users,"
        " (select sum(delta) from public.credit_ledger where user_id = c.user_id) as ledger"
        " from auth.users u join public.user_credits c on c.user_id = u.id::text"
        " where u.id = %(id)s",
        {"id": DEMO_ID},
    ).fetchone()
    assert row is not None
    return dict(row)


def test_seed_creates_the_demo_user_once_with_trigger_credits(
    admin: psycopg.Connection[Any],
) -> None:
    """seed.sql runs twice on the local stand-in; the signup trigger gives the credits."""
    seed = (SUPABASE / "seed.sql").read_text().encode()
    with rolled_back(admin):
        admin.execute(seed)
        admin.execute(seed)
        demo = _demo_user(admin)
        starter = admin.execute("select starter_credits from public.genvault_config").fetchone()
    assert starter is not None
    assert demo == {
        "email": "demo@genvault.local",
        "credits": starter["starter_credits"],
        "users": 1,
        "ledger": starter["starter_credits"],
    }


def test_seed_fills_supabase_auth_columns_where_they_exist(
    admin: psycopg.Connection[Any],
) -> None:
    """Under Supabase Auth's columns, the demo user gets an audience, a password, no NULL tokens."""
    with rolled_back(admin):
        admin.execute(
            "alter table auth.users"
            " add column instance_id uuid, add column aud text, add column role text,"
            " add column email_confirmed_at timestamptz, add column encrypted_password text,"
            " add column confirmation_token text, add column recovery_token text,"
            " add column email_change_token_new text, add column email_change text"
        )
        # Stand-ins for pgcrypto's functions, which Supabase keeps in extensions.
        admin.execute(
            "create function extensions.gen_salt(text) returns text"
            " language sql as $$ select 'salt:' || $1 $$;"
            "create function extensions.crypt(text, text) returns text"
            " language sql as $$ select $2 || ':' || md5($1) $$"
        )
        admin.execute((SUPABASE / "seed.sql").read_text().encode())
        row = admin.execute(
            "select aud, role, email_confirmed_at is not null as confirmed,"
            " encrypted_password like 'salt:bf:%%' as hashed,"
            " array[confirmation_token, recovery_token, email_change_token_new, email_change]"
            "   as tokens"
            " from auth.users where id = %s",
            (DEMO_ID,),
        ).fetchone()
    assert row == {
        "aud": "authenticated",
        "role": "authenticated",
        "confirmed": True,
        "hashed": True,
        "tokens": ["", "", "", ""],
    }
