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
from psycopg.rows import dict_row

from genvault._migrate import MIGRATIONS, migrate, sql_dir, verify
from tests.support.database import scratch_database

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
        "generations.sql": "unchanged",
        "monitoring.sql": "unchanged",
        "storage.sql": "unchanged",  # on the local layer's storage schema
        "history_at_scale.sql": "unchanged",
        "organising.sql": "unchanged",
        "storage_sharing.sql": "unchanged",
    }


def test_changed_file_is_applied_again(scratch_url: str) -> None:
    """Before 1.0 a file edited in place is applied again, and its new checksum recorded."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            "update genvault_meta.migrations set checksum = 'edited' where name = 'monitoring.sql'"
        )
        conn.execute("drop function public.admin_trends(text, integer)")
    results = {r.name: r for r in migrate(scratch_url)}
    assert results["monitoring.sql"].status == "reapplied"
    assert results["credits.sql"].status == "unchanged"
    with psycopg.connect(scratch_url) as conn:
        row = conn.execute(
            "select checksum from genvault_meta.migrations where name = 'monitoring.sql'"
        ).fetchone()
        back = conn.execute(
            "select to_regprocedure('public.admin_trends(text, integer)')"
        ).fetchone()
    assert row is not None
    assert row[0] != "edited"
    assert back is not None
    assert back[0] is not None
    assert {r.status for r in migrate(scratch_url)} <= {"unchanged", "skipped"}


def test_an_edited_local_stand_in_is_applied_again(scratch_url: str) -> None:
    """Where genvault applied supabase_compat.sql, the auth.uid() it finds is its own: an
    edited stand-in is applied again, like any other file (only a Supabase database, where
    genvault never applied it, is skipped)."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            "update genvault_meta.migrations set checksum = 'edited'"
            " where name = 'supabase_compat.sql'"
        )
        conn.execute("drop function auth.email()")
    results = {r.name: r.status for r in migrate(scratch_url)}
    assert results["supabase_compat.sql"] == "reapplied"
    with psycopg.connect(scratch_url) as conn:
        back = conn.execute("select to_regprocedure('auth.email()') is not null").fetchone()
    assert back == (True,)


def test_changed_file_is_drift_once_append_only(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 1.0 on, a changed file is drift, and left alone."""
    monkeypatch.setattr("genvault._migrate.APPEND_ONLY", True)
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            "update genvault_meta.migrations set checksum = 'edited' where name = 'monitoring.sql'"
        )
    results = {r.name: r for r in migrate(scratch_url)}
    assert results["monitoring.sql"].status == "drift"
    assert "changed after it was applied" in results["monitoring.sql"].detail
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
        ("starred", "boolean", "NO"),
        ("trashed_at", "timestamp with time zone", "YES"),
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
    # history_at_scale.sql: the per-user summaries behind my_stats().
    "user_generation_totals": [
        ("user_id", "text", "NO"),
        ("images", "bigint", "NO"),
        ("bytes", "bigint", "NO"),
        ("credits_spent", "bigint", "NO"),
    ],
    "user_generation_days": [
        ("user_id", "text", "NO"),
        ("day", "date", "NO"),
        ("images", "bigint", "NO"),
    ],
    "user_prompt_counts": [
        ("user_id", "text", "NO"),
        ("prompt_key", "uuid", "NO"),
        ("prompt", "text", "NO"),
        ("uses", "bigint", "NO"),
    ],
    # organising.sql: collections, tags, sharing, templates.
    "collections": [
        ("id", "uuid", "NO"),
        ("user_id", "text", "NO"),
        ("name", "text", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ],
    "collection_items": [
        ("collection_id", "uuid", "NO"),
        ("generation_id", "uuid", "NO"),
        ("user_id", "text", "NO"),
        ("generation_created_at", "timestamp with time zone", "NO"),
        ("added_at", "timestamp with time zone", "NO"),
    ],
    "generation_tags": [
        ("generation_id", "uuid", "NO"),
        ("tag", "text", "NO"),
        ("user_id", "text", "NO"),
        ("generation_created_at", "timestamp with time zone", "NO"),
    ],
    "shares": [
        ("id", "uuid", "NO"),
        ("owner_id", "text", "NO"),
        ("recipient_id", "text", "NO"),
        ("generation_id", "uuid", "YES"),
        ("collection_id", "uuid", "YES"),
        ("created_at", "timestamp with time zone", "NO"),
    ],
    "public_links": [
        ("id", "uuid", "NO"),
        ("owner_id", "text", "NO"),
        ("token_sha256", "bytea", "NO"),
        ("generation_id", "uuid", "YES"),
        ("collection_id", "uuid", "YES"),
        ("created_at", "timestamp with time zone", "NO"),
        ("expires_at", "timestamp with time zone", "NO"),
        ("revoked_at", "timestamp with time zone", "YES"),
    ],
    "prompt_templates": [
        ("id", "uuid", "NO"),
        ("user_id", "text", "NO"),
        ("name", "text", "NO"),
        ("prompt", "text", "NO"),
        ("model", "text", "YES"),
        ("params", "jsonb", "NO"),
        ("created_at", "timestamp with time zone", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ],
}


def test_every_public_table_has_its_columns_pinned(admin: psycopg.Connection[Any]) -> None:
    """No table in public escapes the shape tests below: COLUMNS names each one."""
    rows = admin.execute(
        "select c.relname from pg_catalog.pg_class c"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')"
    ).fetchall()
    assert {r["relname"] for r in rows} == set(COLUMNS)


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
        # history_at_scale.sql
        "user_generation_totals_pkey": "PRIMARY KEY (user_id)",
        "user_generation_totals_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "user_generation_days_pkey": "PRIMARY KEY (user_id, day)",
        "user_generation_days_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "user_prompt_counts_pkey": "PRIMARY KEY (user_id, prompt_key)",
        "user_prompt_counts_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        # organising.sql
        "user_generations_id_owner_created_key": "UNIQUE (id, user_id, created_at)",
        "collections_pkey": "PRIMARY KEY (id)",
        "collections_id_owner_key": "UNIQUE (id, user_id)",
        "collections_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "collection_items_pkey": "PRIMARY KEY (collection_id, generation_id)",
        "collection_items_collection_fkey": (
            "FOREIGN KEY (collection_id, user_id) REFERENCES collections(id, user_id)"
            " ON DELETE CASCADE"
        ),
        "collection_items_generation_fkey": (
            "FOREIGN KEY (generation_id, user_id, generation_created_at)"
            " REFERENCES user_generations(id, user_id, created_at)"
            " ON UPDATE CASCADE ON DELETE CASCADE"
        ),
        "generation_tags_pkey": "PRIMARY KEY (generation_id, tag)",
        "generation_tags_generation_fkey": (
            "FOREIGN KEY (generation_id, user_id, generation_created_at)"
            " REFERENCES user_generations(id, user_id, created_at)"
            " ON UPDATE CASCADE ON DELETE CASCADE"
        ),
        "shares_pkey": "PRIMARY KEY (id)",
        "shares_owner_id_fkey": (
            "FOREIGN KEY (owner_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "shares_recipient_id_fkey": (
            "FOREIGN KEY (recipient_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "shares_generation_id_fkey": (
            "FOREIGN KEY (generation_id) REFERENCES user_generations(id) ON DELETE CASCADE"
        ),
        "shares_collection_id_fkey": (
            "FOREIGN KEY (collection_id) REFERENCES collections(id) ON DELETE CASCADE"
        ),
        "public_links_pkey": "PRIMARY KEY (id)",
        "public_links_token_sha256_key": "UNIQUE (token_sha256)",
        "public_links_owner_id_fkey": (
            "FOREIGN KEY (owner_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
        "public_links_generation_id_fkey": (
            "FOREIGN KEY (generation_id) REFERENCES user_generations(id) ON DELETE CASCADE"
        ),
        "public_links_collection_id_fkey": (
            "FOREIGN KEY (collection_id) REFERENCES collections(id) ON DELETE CASCADE"
        ),
        "prompt_templates_pkey": "PRIMARY KEY (id)",
        "prompt_templates_user_id_fkey": (
            "FOREIGN KEY (user_id) REFERENCES user_credits(user_id) ON DELETE CASCADE"
        ),
    }


def test_indexes(admin: psycopg.Connection[Any]) -> None:
    """The indexes behind history pages, search, the ledger, the expiry sweep, the
    reference count of stored files, the summaries, and the organising tables."""
    rows = admin.execute(
        "select indexname, indexdef from pg_catalog.pg_indexes"
        " where schemaname = 'public' and right(indexname, 4) = '_idx'"
    ).fetchall()
    assert {r["indexname"]: r["indexdef"] for r in rows} == {
        "user_generations_user_created_idx": (
            "CREATE INDEX user_generations_user_created_idx ON public.user_generations"
            " USING btree (user_id, created_at DESC, id DESC)"
        ),
        "user_generations_search_idx": (
            "CREATE INDEX user_generations_search_idx ON public.user_generations"
            " USING gin (genvault_search_keys(user_id, prompt))"
        ),
        "user_generations_image_url_idx": (
            "CREATE INDEX user_generations_image_url_idx ON public.user_generations"
            " USING hash (image_url)"
        ),
        "user_generations_thumbnail_url_idx": (
            "CREATE INDEX user_generations_thumbnail_url_idx ON public.user_generations"
            " USING hash (thumbnail_url)"
        ),
        "user_generations_starred_idx": (
            "CREATE INDEX user_generations_starred_idx ON public.user_generations"
            " USING btree (user_id, created_at DESC, id DESC)"
            " WHERE (starred AND (trashed_at IS NULL))"
        ),
        "user_generations_trash_idx": (
            "CREATE INDEX user_generations_trash_idx ON public.user_generations"
            " USING btree (user_id, created_at DESC, id DESC) WHERE (trashed_at IS NOT NULL)"
        ),
        "user_generations_trashed_at_idx": (
            "CREATE INDEX user_generations_trashed_at_idx ON public.user_generations"
            " USING btree (trashed_at) WHERE (trashed_at IS NOT NULL)"
        ),
        "credit_ledger_user_created_idx": (
            "CREATE INDEX credit_ledger_user_created_idx ON public.credit_ledger"
            " USING btree (user_id, created_at DESC)"
        ),
        "credit_ledger_open_reservations_idx": (
            "CREATE INDEX credit_ledger_open_reservations_idx ON public.credit_ledger"
            " USING btree (created_at) WHERE (reason = 'reserve'::text)"
        ),
        "user_prompt_counts_top_idx": (
            "CREATE INDEX user_prompt_counts_top_idx ON public.user_prompt_counts"
            ' USING btree (user_id, uses DESC, "left"(prompt, 200))'
        ),
        "collections_user_name_idx": (
            "CREATE UNIQUE INDEX collections_user_name_idx ON public.collections"
            " USING btree (user_id, lower(name))"
        ),
        "collection_items_page_idx": (
            "CREATE INDEX collection_items_page_idx ON public.collection_items"
            " USING btree (collection_id, generation_created_at DESC, generation_id DESC)"
        ),
        "collection_items_generation_idx": (
            "CREATE INDEX collection_items_generation_idx ON public.collection_items"
            " USING btree (generation_id)"
        ),
        "generation_tags_page_idx": (
            "CREATE INDEX generation_tags_page_idx ON public.generation_tags"
            " USING btree (user_id, tag, generation_created_at DESC, generation_id DESC)"
        ),
        "shares_generation_recipient_idx": (
            "CREATE UNIQUE INDEX shares_generation_recipient_idx ON public.shares"
            " USING btree (generation_id, recipient_id) WHERE (generation_id IS NOT NULL)"
        ),
        "shares_collection_recipient_idx": (
            "CREATE UNIQUE INDEX shares_collection_recipient_idx ON public.shares"
            " USING btree (collection_id, recipient_id) WHERE (collection_id IS NOT NULL)"
        ),
        "shares_recipient_idx": (
            "CREATE INDEX shares_recipient_idx ON public.shares"
            " USING btree (recipient_id, created_at DESC)"
        ),
        "shares_owner_idx": (
            "CREATE INDEX shares_owner_idx ON public.shares USING btree (owner_id, created_at DESC)"
        ),
        "public_links_owner_idx": (
            "CREATE INDEX public_links_owner_idx ON public.public_links"
            " USING btree (owner_id, created_at DESC)"
        ),
        "public_links_generation_idx": (
            "CREATE INDEX public_links_generation_idx ON public.public_links"
            " USING btree (generation_id) WHERE (generation_id IS NOT NULL)"
        ),
        "public_links_collection_idx": (
            "CREATE INDEX public_links_collection_idx ON public.public_links"
            " USING btree (collection_id) WHERE (collection_id IS NOT NULL)"
        ),
        "prompt_templates_user_name_idx": (
            "CREATE UNIQUE INDEX prompt_templates_user_name_idx ON public.prompt_templates"
            " USING btree (user_id, lower(name))"
        ),
    }


def test_policies(admin: psycopg.Connection[Any]) -> None:
    """One SELECT policy per table and no other: users write only through the
    functions. All of them permissive and for authenticated alone."""
    rows = admin.execute(
        "select tablename, policyname, cmd, roles, permissive from pg_catalog.pg_policies"
        " where schemaname = 'public'"
    ).fetchall()
    found = {
        (r["tablename"], r["policyname"]): (r["cmd"], r["roles"], r["permissive"]) for r in rows
    }
    expected = {
        ("user_generations", "Users can view their own generations"): "SELECT",
        ("user_credits", "Users can read their own credits"): "SELECT",
        ("credit_ledger", "Users can read their own ledger"): "SELECT",
        ("user_generation_totals", "Users can read their own totals"): "SELECT",
        ("user_generation_days", "Users can read their own days"): "SELECT",
        ("user_prompt_counts", "Users can read their own prompt counts"): "SELECT",
        ("collections", "Users can view their own collections"): "SELECT",
        ("collection_items", "Users can view their own collection items"): "SELECT",
        ("generation_tags", "Users can view their own tags"): "SELECT",
        ("shares", "Owners and recipients can view a share"): "SELECT",
        ("public_links", "Owners can view their public links"): "SELECT",
        ("prompt_templates", "Users can view their own templates"): "SELECT",
    }
    assert found == {key: (cmd, ["authenticated"], "PERMISSIVE") for key, cmd in expected.items()}


_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
_ROLES = ["anon", "authenticated", "service_role"]
_READ = {"authenticated": {"SELECT"}, "service_role": set(_PRIVILEGES)}
GRANTS: dict[str, dict[str, set[str]]] = {
    "user_generations": _READ,
    "user_credits": _READ,
    "credit_ledger": _READ,
    "genvault_config": {"service_role": set(_PRIVILEGES)},
    "user_generation_totals": _READ,
    "user_generation_days": _READ,
    "user_prompt_counts": _READ,
    "collections": _READ,
    "collection_items": _READ,
    "generation_tags": _READ,
    "shares": _READ,
    "public_links": _READ,
    "prompt_templates": _READ,
}


def test_every_public_table_has_its_grants_pinned() -> None:
    """Each table whose columns are pinned has its grants pinned too."""
    assert set(GRANTS) == set(COLUMNS)


@pytest.mark.parametrize("table", sorted(GRANTS))
def test_table_grants(admin: psycopg.Connection[Any], table: str) -> None:
    """anon holds nothing, users only read (every write is a function), service_role all."""
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


def test_verify_reports_a_disabled_provenance_trigger(scratch_url: str) -> None:
    """With the freeze trigger off, verify names that one failed check."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute(
            "alter table public.user_generations disable trigger user_generations_freeze_provenance"
        )
    failed = [check for check, ok, _ in verify(scratch_url) if not ok]
    assert failed == ["trigger: provenance of user_generations is frozen"]


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


def _fill_history(conn: psycopg.Connection[Any], rows: int = 3000) -> None:
    """``rows`` generations over three users; 1 prompt in 500 mentions a zebra.

    Each row has its own image and thumbnail path under its owner's folder.
    """
    for user in _USERS:
        conn.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@t.test"))
    conn.execute(
        "insert into public.user_generations"
        "   (user_id, prompt, image_url, thumbnail_url, created_at)"
        " select u.id, 'a picture of item ' || n"
        "         || case when n %% 500 = 0 then ' with a zebra' else ' in a field' end,"
        "        u.id || '/' || n || '.webp', u.id || '/' || n || '.thumb.webp',"
        "        now() - n * interval '1 minute'"
        "   from generate_series(1, %s) n"
        "   join unnest(%s::text[]) with ordinality as u(id, k) on u.k = 1 + n %% 3",
        (rows, list(_USERS)),
    )
    conn.execute("analyze public.user_generations")


def _index_scans(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many scans each index of user_generations has served, as the statistics
    system counts them (this session's own counts included)."""
    conn.execute("select pg_catalog.pg_stat_force_next_flush()")
    conn.execute("select pg_catalog.pg_stat_clear_snapshot()")
    rows = conn.execute(
        "select indexrelname, idx_scan from pg_catalog.pg_stat_user_indexes"
        " where relid = 'public.user_generations'::regclass"
    ).fetchall()
    return {r["indexrelname"]: r["idx_scan"] for r in rows}


def _scans_during(conn: psycopg.Connection[Any], before: dict[str, int]) -> dict[str, int]:
    """The indexes of user_generations scanned since ``before``, with how many scans."""
    after = _index_scans(conn)
    return {name: n - before.get(name, 0) for name, n in after.items() if n > before.get(name, 0)}


def _act_as(conn: psycopg.Connection[Any], user: str) -> None:
    conn.execute(
        "select set_config('role', 'authenticated', true),"
        " set_config('request.jwt.claims', %s, true)",
        (json.dumps({"sub": user, "role": "authenticated"}),),
    )


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


def test_search_reads_the_owner_keyed_search_index(admin: psycopg.Connection[Any]) -> None:
    """A user's search for a rare term reads user_generations_search_idx, and finds
    exactly their rows that mention it.

    search_generations runs its statement through EXECUTE inside find_generations,
    where EXPLAIN cannot see it; the statistics system's scan count of each index
    shows what the call itself read. At 30,000 rows (10,000 per user, 20 of each
    user's mentioning a zebra) reading the index is cheaper than walking the
    user's history, so the planner takes it without any setting forced.
    """
    me = _USERS[0]
    before = _index_scans(admin)
    with rolled_back(admin):
        _fill_history(admin, rows=30000)
        expected = admin.execute(
            "select id from public.user_generations"
            " where user_id = %s and prompt like '%%zebra%%'"
            " order by created_at desc, id desc",
            (me,),
        ).fetchall()
        _act_as(admin, me)
        found = admin.execute(
            "select id from public.search_generations('ZEBRA', page_size => 1000)"
        ).fetchall()
    assert len(expected) == 20
    assert found == expected
    assert "user_generations_search_idx" in _scans_during(admin, before)


def test_reference_check_reads_the_hash_indexes(scratch_url: str) -> None:
    """genvault_unreferenced_paths looks each path up in the image_url and thumbnail_url
    hash indexes instead of reading the owner's history; a path still used by a kept
    row is not removable, the others are. (A database of its own: the scan counts are
    database-wide, and nothing else may read the table meanwhile.)"""
    with psycopg.connect(scratch_url, autocommit=True, row_factory=dict_row) as admin:
        _check_reference_plan(admin)


def _check_reference_plan(admin: psycopg.Connection[Any]) -> None:
    me = _USERS[0]
    before = _index_scans(admin)
    with rolled_back(admin):
        _fill_history(admin)
        # The setup reads no index, so that every scan counted is the check's own.
        admin.execute("set local enable_indexscan = off; set local enable_bitmapscan = off")
        # A history large enough that reading the owner's rows is plainly the slow way
        # (with a few hundred rows either plan is as good, and the planner may take either).
        admin.execute(
            "insert into public.user_generations (user_id, prompt, image_url, created_at)"
            " select %s, 'more of the same ' || n, %s || '/more-' || n || '.webp',"
            "        now() - n * interval '1 second'"
            "   from generate_series(1, 20000) n",
            (me, me),
        )
        admin.execute("analyze public.user_generations")
        # Row 3's thumbnail is shared with another row, which is kept.
        admin.execute(
            "insert into public.user_generations (user_id, prompt, image_url, thumbnail_url)"
            " values (%s, 'a twin', %s, %s)",
            (me, f"{me}/twin.webp", f"{me}/3.thumb.webp"),
        )
        doomed = admin.execute(
            "select id from public.user_generations where image_url = %s", (f"{me}/3.webp",)
        ).fetchone()
        assert doomed is not None
        admin.execute("set local enable_indexscan = on; set local enable_bitmapscan = on")
        row = admin.execute(
            "select public.genvault_unreferenced_paths(%s, array[%s, %s], array[%s]::uuid[])"
            " as paths",
            (me, f"{me}/3.webp", f"{me}/3.thumb.webp", doomed["id"]),
        ).fetchone()
    assert row == {"paths": [f"{me}/3.webp"]}
    scanned = _scans_during(admin, before)
    assert {"user_generations_image_url_idx", "user_generations_thumbnail_url_idx"} <= set(
        scanned
    ), scanned
    assert "user_generations_user_created_idx" not in scanned


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
