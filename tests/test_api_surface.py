"""The API surface is reviewed, and the database linter finds nothing unexplained.

On Supabase every privilege anon or authenticated holds is an endpoint anyone with
the public key can call. ``database/api_surface.sql`` lists what a database grants;
``database/api_surface.txt`` is the reviewed list, each line with its reason. The
linter rules of ``database/lint.sql`` look for what Supabase's linter reports; the
intended findings are explained in ``database/lint_accepted.txt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from genvault._migrate import sql_dir

Row = tuple[str, ...]


def _reviewed(name: str, fields: int) -> dict[Row, str]:
    """The lines of a reviewed list: the first ``fields`` columns, and the reason."""
    entries: dict[Row, str] = {}
    for number, line in enumerate((sql_dir() / name).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        assert len(parts) == fields + 1, f"{name}:{number}: expected {fields} fields and a reason"
        key, reason = tuple(parts[:fields]), parts[fields]
        assert len(reason) >= 20, f"{name}:{number}: say why, in words"
        assert key not in entries, f"{name}:{number}: listed twice"
        entries[key] = reason
    return entries


def _run(conn: psycopg.Connection[Any], file: str) -> set[Row]:
    rows = conn.execute((sql_dir() / file).read_text().encode()).fetchall()
    return {tuple(str(v) for v in row) for row in rows}


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the database owner, inside a transaction that is rolled back."""
    with psycopg.connect(database_url) as connection:
        yield connection
        connection.rollback()


def _diff(found: set[Row], listed: set[Row]) -> str:
    return (
        f"granted but not in the list: {sorted(found - listed)}; "
        f"listed but not granted: {sorted(listed - found)}"
    )


def test_every_privilege_of_the_api_roles_is_reviewed(conn: psycopg.Connection[Any]) -> None:
    """What anon, authenticated and PUBLIC hold is exactly the reviewed list."""
    found = _run(conn, "api_surface.sql")
    listed = set(_reviewed("api_surface.txt", 4))
    version = conn.execute("select current_setting('server_version_num')::int").fetchone()
    assert version is not None
    if version[0] < 170000:  # no MAINTAIN privilege before PostgreSQL 17
        listed = {row for row in listed if row[1] != "MAINTAIN"}
    assert found == listed, _diff(found, listed)


def test_users_hold_no_write_privilege_on_any_table(conn: psycopg.Connection[Any]) -> None:
    """Whatever else the list says, no API role may write a table, a column or a sequence."""
    writes = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}
    found = _run(conn, "api_surface.sql")
    assert [r for r in found if r[1] in writes and r[2] in ("table", "column", "sequence")] == []
    assert not [r for r in found if r[0] == "anon" and r[2] in ("table", "column")]


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (
            "grant insert on public.user_generations to authenticated",
            ("authenticated", "INSERT", "table", "public.user_generations"),
        ),
        (
            "grant update (prompt) on public.user_generations to authenticated",
            ("authenticated", "UPDATE", "column", "public.user_generations.prompt"),
        ),
        (
            "grant select on public.genvault_config to anon",
            ("anon", "SELECT", "table", "public.genvault_config"),
        ),
        (
            "grant execute on function public.genvault_unreferenced_paths(text, text[], uuid[])"
            " to public",
            (
                "PUBLIC",
                "EXECUTE",
                "function",
                "public.genvault_unreferenced_paths(owner text, paths text[], excluding uuid[])",
            ),
        ),
        (
            "create sequence public.genvault_probe_seq",
            ("authenticated", "USAGE", "sequence", "public.genvault_probe_seq"),
        ),
        (
            "alter default privileges in schema public grant select on tables to public",
            ("PUBLIC", "SELECT", "default for tables", "created by postgres in public"),
        ),
    ],
)
def test_a_new_grant_fails_the_review(
    conn: psycopg.Connection[Any], grant: str, expected: Row
) -> None:
    """A grant nobody reviewed shows up as a difference, whatever kind of object it is on."""
    owner = conn.execute("select current_user").fetchone()
    assert owner is not None
    conn.execute(grant.replace("created by postgres", f"created by {owner[0]}"))
    expected = tuple(e.replace("postgres", str(owner[0])) for e in expected)
    found = _run(conn, "api_surface.sql")
    assert expected in found
    assert expected not in set(_reviewed("api_surface.txt", 4))


# ---------------------------------------------------------------------------
# The linter
# ---------------------------------------------------------------------------


def test_the_linter_finds_nothing_unexplained(conn: psycopg.Connection[Any]) -> None:
    """Every finding of lint.sql is an intended one, and every explanation still applies."""
    found = {(rule, obj) for rule, obj, _ in _run(conn, "lint.sql")}
    accepted = set(_reviewed("lint_accepted.txt", 2))
    assert found == accepted, (
        f"unexplained: {sorted(found - accepted)}; explained but gone: {sorted(accepted - found)}"
    )


def test_no_security_or_rls_finding_is_accepted() -> None:
    """The rules that mean an open door are never explained away."""
    never = ("0002", "0003", "0006", "0007", "0010", "0011", "0013", "0015", "0016")
    assert [r for r, _ in _reviewed("lint_accepted.txt", 2) if r.startswith(never)] == []


# Each rule, shown to fire: (setup, rule, object). The setup runs in a transaction
# that is rolled back.
RULE_CASES = [
    (
        "create table public.lint_probe (id int primary key)",
        "0013_rls_disabled_in_public",
        "public.lint_probe",
    ),
    (
        "create table public.lint_probe (id int primary key);"
        " alter table public.lint_probe enable row level security",
        "0008_rls_enabled_no_policy",
        "public.lint_probe",
    ),
    (
        "create table public.lint_probe (id int primary key, owner text);"
        " create policy p on public.lint_probe for select to authenticated using (true)",
        "0007_policy_exists_rls_disabled",
        "public.lint_probe",
    ),
    (
        "create function public.lint_probe() returns int language sql as 'select 1'",
        "0011_function_search_path_mutable",
        "public.lint_probe()",
    ),
    (
        'drop policy "Users can view their own generations" on public.user_generations;'
        ' create policy "Users can view their own generations" on public.user_generations'
        " for select to authenticated using (auth.uid()::text = user_id)",
        "0003_auth_rls_initplan",
        'public.user_generations "Users can view their own generations"',
    ),
    (
        'create policy "also mine" on public.user_generations for select to authenticated'
        " using ((select auth.uid())::text = user_id)",
        "0006_multiple_permissive_policies",
        "public.user_generations",
    ),
    (
        "create policy meta on public.collections for select to authenticated"
        " using ((select auth.jwt()) -> 'user_metadata' ->> 'admin' = 'yes')",
        "0015_rls_references_user_metadata",
        "public.collections meta",
    ),
    (
        "create table public.lint_probe (id int primary key,"
        " generation uuid references public.user_generations (id));"
        " alter table public.lint_probe enable row level security;"
        " create policy p on public.lint_probe for select to authenticated using (false)",
        "0001_unindexed_foreign_keys",
        "public.lint_probe lint_probe_generation_fkey",
    ),
    (
        "create index lint_probe_twin"
        " on public.user_generations (user_id, created_at desc, id desc)",
        "0009_duplicate_index",
        "public.user_generations",
    ),
    (
        "create view public.lint_probe as select id from public.user_generations",
        "0010_security_definer_view",
        "public.lint_probe",
    ),
    (
        "create view public.lint_probe with (security_invoker) as select id, email from auth.users",
        "0002_auth_users_exposed",
        "public.lint_probe",
    ),
    (
        "create materialized view public.lint_probe as select 1 as one",
        "0016_materialized_view_in_api",
        "public.lint_probe",
    ),
    (
        "grant execute on function public.genvault_rebuild_summaries() to anon",
        "0028_anon_security_definer_function_executable",
        "public.genvault_rebuild_summaries()",
    ),
    (
        "grant execute on function public.genvault_rebuild_summaries() to authenticated",
        "0029_authenticated_security_definer_function_executable",
        "public.genvault_rebuild_summaries()",
    ),
]


@pytest.mark.parametrize(
    ("setup", "rule", "obj"), RULE_CASES, ids=[rule for _, rule, _ in RULE_CASES]
)
def test_each_rule_finds_what_it_looks_for(
    conn: psycopg.Connection[Any], setup: str, rule: str, obj: str
) -> None:
    """A rule that never fires proves nothing: each one catches its own mistake."""
    before = {(r, o) for r, o, _ in _run(conn, "lint.sql")}
    assert (rule, obj) not in before
    conn.execute(setup.encode())
    after = {(r, o) for r, o, _ in _run(conn, "lint.sql")}
    assert (rule, obj) in after - before
