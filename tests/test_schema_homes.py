"""One home per SQL object, and the schema readable in one place.

Each table, function, index, policy and trigger is created in exactly one
migration file, and the grants on it are made there too. database/schema.sql is
the schema a fresh migration builds, as text; database/README.md names the file
that defines each table and function. Applying the files again, or applying
them over a database migrated by an earlier version, builds the same schema.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from genvault._migrate import MIGRATIONS, RENAMED, migrate, schema_text, sql_dir
from tests.support.database import scratch_database

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = sql_dir() / "schema.sql"
README = sql_dir() / "README.md"
# The last commit before each definition got one home (and add_image_storage.sql
# became generations.sql): databases migrated by it must upgrade to the same schema.
UPGRADED_FROM = "82528676aef85475e079a79eb1e0c32b8a464e0c"


# ---------------------------------------------------------------------------
# Where each object is created, read from the files
# ---------------------------------------------------------------------------

_CREATES = {
    "function": r"create\s+(?:or\s+replace\s+)?function\s+([\w.]+)\s*\(",
    "table": r"create\s+table\s+(?:if\s+not\s+exists\s+)?([\w.]+)",
    "index": r"create\s+(?:unique\s+)?index\s+(?:if\s+not\s+exists\s+)?(\w+)",
    "policy": r'create\s+policy\s+("[^"]+"\s+on\s+[\w.]+)',
    "trigger": r"create\s+(?:or\s+replace\s+)?trigger\s+(\w+)",
    "column": r"add\s+column\s+(?:if\s+not\s+exists\s+)?(\w+)",
}
_GRANTS = (
    r"(?:grant|revoke)\s+(?:execute|all|select)[^;]*?\s+on\s+(?:function\s+|table\s+)?"
    r"(.*?)\s+(?:to|from)\s"
)


def _statements(text: str) -> str:
    """SQL without its comments and function bodies, lower-cased."""
    text = re.sub(r"\$\$.*?\$\$", "$$", text, flags=re.S)
    return re.sub(r"--[^\n]*", "", text).lower()


def homes(files: dict[str, str] | None = None) -> dict[tuple[str, str], list[str]]:
    """(kind, object) -> each file that creates it or grants on it, once per time.

    ``files`` maps a file's name to its text; by default the migration files.
    """
    if files is None:
        files = {m.name: (sql_dir() / m.name).read_text() for m in MIGRATIONS}
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, sql in files.items():
        text = _statements(sql)
        for kind, pattern in _CREATES.items():
            for match in re.finditer(pattern, text):
                found[(kind, " ".join(match.group(1).split()))].append(name)
        for match in re.finditer(_GRANTS, text, flags=re.S):
            for target in re.findall(r"([a-z_]+\.[a-z_]+)\s*(?:\(|,|$)", match.group(1)):
                found[("grant", target)].append(name)
    return found


def test_each_object_is_created_in_one_place() -> None:
    """No table, function, index, policy, trigger or column is defined twice, in one
    file or in two: a later definition would silently replace the earlier one."""
    twice = {key: files for key, files in homes().items() if key[0] != "grant" and len(files) > 1}
    assert twice == {}


def test_grants_are_made_where_the_object_is_created() -> None:
    """Each function's and table's grants sit in the one file that creates it."""
    found = homes()
    created = {
        obj: files[0] for (kind, obj), files in found.items() if kind in ("function", "table")
    }
    elsewhere = {
        obj: sorted(set(files) - {created.get(obj)})
        for (kind, obj), files in found.items()
        if kind == "grant" and set(files) - {created.get(obj)}
    }
    assert elsewhere == {}


def test_the_checks_see_a_second_definition_and_a_stray_grant() -> None:
    """What the two checks above look for, shown on two small files."""
    found = homes(
        {
            "a.sql": "create table if not exists public.t (id int);\n"
            "create or replace function public.f(x int) returns int language sql\n"
            "as $$ select 1 -- create function public.g() $$;",
            "b.sql": "-- create table public.t\n"
            "create or replace function public.f(x int) returns int language sql as $$ $$;\n"
            "grant select on public.t to authenticated;\n"
            "revoke execute on function public.f(int), public.h() from public;",
        }
    )
    assert found == {
        ("table", "public.t"): ["a.sql"],
        ("function", "public.f"): ["a.sql", "b.sql"],
        ("grant", "public.t"): ["b.sql"],
        ("grant", "public.f"): ["b.sql"],
        ("grant", "public.h"): ["b.sql"],
    }


# ---------------------------------------------------------------------------
# database/schema.sql
# ---------------------------------------------------------------------------


def _fresh_schema(server_url: str) -> str:
    with scratch_database(server_url, "genvault_schema") as url:
        migrate(url)
        return schema_text(url)


def _differs(found: str, expected: str, what: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), found.splitlines(True), "database/schema.sql", what, n=2
        )
    )
    return f"{what} differs from database/schema.sql; run scripts/schema-snapshot\n{diff}"


def test_a_fresh_migration_builds_the_snapshot(server_url: str) -> None:
    """database/schema.sql is exactly what the migrations build, bodies included."""
    found = _fresh_schema(server_url)
    assert found == SNAPSHOT.read_text(), _differs(found, SNAPSHOT.read_text(), "migrated schema")


def test_the_snapshot_shows_what_a_change_would_change(server_url: str) -> None:
    """A function body, a grant or a policy changed in the database changes the text."""
    with scratch_database(server_url, "genvault_schema") as url:
        migrate(url)
        before = schema_text(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "create or replace function public.genvault_is_counted(g public.user_generations)"
                " returns boolean language sql immutable set search_path = ''"
                " as $$ select true $$"
            )
            conn.execute("grant execute on function public.my_credits() to anon")
            conn.execute('drop policy "Users can view their own tags" on public.generation_tags')
        after = schema_text(url)
    removed = {line for line in before.splitlines() if line not in after.splitlines()}
    added = {line for line in after.splitlines() if line not in before.splitlines()}
    assert "  select g.trashed_at is null" in removed
    assert any("select true" in line for line in added)
    assert "grant execute on function public.my_credits() to anon;" in added
    assert any("Users can view their own tags" in line for line in removed)


def test_applying_every_file_twice_changes_nothing(server_url: str) -> None:
    """Every file is idempotent: applied once more, each one leaves the schema as it was."""
    with scratch_database(server_url, "genvault_schema") as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("update genvault_meta.migrations set checksum = 'again'")
        statuses = {r.name: r.status for r in migrate(url)}
        again = schema_text(url)
    assert set(statuses.values()) == {"reapplied"}
    assert again == SNAPSHOT.read_text(), _differs(again, SNAPSHOT.read_text(), "applied twice")


# ---------------------------------------------------------------------------
# Upgrading a database migrated by an earlier version
# ---------------------------------------------------------------------------


def _git_show(path: str) -> str:
    run = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{UPGRADED_FROM}:{path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, f"git cannot show {path} at {UPGRADED_FROM}: {run.stderr}"
    return run.stdout


def _earlier_migrate(folder: Path) -> ModuleType:
    """The _migrate module and database/ folder of UPGRADED_FROM, laid out in ``folder``."""
    code = folder / "src" / "genvault" / "_migrate.py"
    code.parent.mkdir(parents=True)
    code.write_text(_git_show("src/genvault/_migrate.py"))
    (folder / "database").mkdir()
    spec = importlib.util.spec_from_file_location("genvault_earlier_migrate", code)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    for migration in module.MIGRATIONS:
        (folder / "database" / migration.name).write_text(_git_show(f"database/{migration.name}"))
    # Its SQL is the earlier files, not the ones this checkout ships.
    module.sql_dir = lambda: folder / "database"
    return module


def test_a_database_of_the_earlier_version_upgrades_to_the_same_schema(
    server_url: str, tmp_path: Path
) -> None:
    """Migrated by the earlier files, then by these: the schema of a fresh migration,
    and the renamed file counts as applied before (edited in place, so applied again)."""
    earlier = _earlier_migrate(tmp_path)
    with scratch_database(server_url, "genvault_upgrade") as url:
        earlier.migrate(url)
        statuses = {r.name: r.status for r in migrate(url)}
        upgraded = schema_text(url)
        with psycopg.connect(url) as conn:
            recorded = sorted(
                r[0] for r in conn.execute("select name from genvault_meta.migrations")
            )
        again = {r.status for r in migrate(url)}
    assert statuses["generations.sql"] == "reapplied"
    assert "add_image_storage.sql" not in statuses
    assert recorded == sorted(m.name for m in MIGRATIONS)
    assert again == {"unchanged"}
    assert upgraded == SNAPSHOT.read_text(), _differs(upgraded, SNAPSHOT.read_text(), "upgraded")


@pytest.mark.parametrize("edited", [False, True], ids=["same-text", "edited"])
def test_a_file_applied_under_its_old_name_is_not_applied_as_new(
    server_url: str, edited: bool
) -> None:
    """A database that recorded add_image_storage.sql has applied generations.sql: the
    record moves to the new name, and the file is unchanged or, if edited, reapplied."""
    assert RENAMED == {"generations.sql": "add_image_storage.sql"}
    with scratch_database(server_url, "genvault_renamed") as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update genvault_meta.migrations set name = 'add_image_storage.sql',"
                " checksum = case when %s then 'old text' else checksum end"
                " where name = 'generations.sql'",
                (edited,),
            )
        statuses = {r.name: r.status for r in migrate(url)}
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "select name from genvault_meta.migrations where name like '%%generations%%'"
                " or name = 'add_image_storage.sql'"
            ).fetchall()
    assert statuses["generations.sql"] == ("reapplied" if edited else "unchanged")
    assert rows == [("generations.sql",)]


# ---------------------------------------------------------------------------
# database/README.md: where each table and function is defined
# ---------------------------------------------------------------------------

_ROW = re.compile(r"^\| `([\w.]+)` \| (table|function) \| `([\w./]+)` \|", re.M)


def _readme_homes() -> dict[tuple[str, str], str]:
    rows = _ROW.findall(README.read_text())
    listed = {(kind, obj): file for obj, kind, file in rows}
    assert len(listed) == len(rows), "an object is listed twice"
    return listed


def test_the_readme_names_the_home_of_every_table_and_function(
    admin: psycopg.Connection[Any],
) -> None:
    """Exactly the tables and functions of the migrated database, each with the file
    that defines it."""
    rows = admin.execute(
        "select 'table' as kind, format('%I.%I', n.nspname, c.relname) as obj"
        "  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('public', 'genvault_meta') and c.relkind in ('r', 'p')"
        " union all"
        " select 'function', format('%I.%I', n.nspname, p.proname)"
        "  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = 'public'"
        "   and not exists (select from pg_catalog.pg_depend d"
        "                    where d.classid = 'pg_catalog.pg_proc'::regclass"
        "                      and d.objid = p.oid and d.deptype = 'e')"
    ).fetchall()
    in_database = {(r["kind"], r["obj"]) for r in rows}
    listed = _readme_homes()
    assert sorted(in_database - set(listed)) == [], "missing from database/README.md"
    assert sorted(set(listed) - in_database) == [], "in database/README.md, not in the database"
    defined = {key: files[0] for key, files in homes().items() if key[0] != "grant"}
    defined[("table", "genvault_meta.migrations")] = "src/genvault/_migrate.py"
    wrong = {
        key: (file, defined.get(key)) for key, file in listed.items() if defined.get(key) != file
    }
    assert wrong == {}, "README says (file), the definition is in (file)"
