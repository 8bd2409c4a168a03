"""The real Supabase CLI against genvault's migrations, on PostgreSQL 15.

`scripts/test` installs the CLI (npm package `supabase`) in `.tools/` and the
plpgsql_check extension that `supabase db lint` needs into Debian's
PostgreSQL 15 on 127.0.0.1:5432 (the embedded server has neither). A fresh
database there gets what a Supabase project already has, the local Supabase
layer (which includes Supabase Storage's schema), and then
only the CLI works on it, by its database URL, without Docker: `db push`
applies supabase/migrations/ (links to database/*.sql), `migration list` shows
each one applied and `db lint` finds nothing wrong in any function. Every
command reads supabase/config.toml first and stops when it rejects it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault._migrate import verify
from tests.support.supabase_cli import MIGRATIONS, ROOT, Pushed, pushed_database, supabase


@pytest.fixture(scope="module")
def pushed() -> Iterator[Pushed]:
    """A fresh PostgreSQL 15 database as Supabase hands it over, then `supabase db push`."""
    with pushed_database() as done:
        yield done


def test_db_push_applies_every_migration(pushed: Pushed) -> None:
    """`supabase db push` applies each linked file in order, and the result is the schema
    `gen db migrate` builds: every check of verify.sql passes."""
    assert len(MIGRATIONS) >= 7, f"expected genvault's migrations in {MIGRATIONS}"
    assert pushed.push.returncode == 0, pushed.push.stdout + pushed.push.stderr
    output = pushed.push.stdout + pushed.push.stderr
    applied = re.findall(r"Applying migration (\S+)\.\.\.", output)
    assert applied == [path.name for path in MIGRATIONS]
    with psycopg.connect(pushed.url) as conn:
        rows = conn.execute(
            "select version, name, statements"
            "  from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    assert [f"{version}_{name}.sql" for version, name, _ in rows] == applied
    # The links were followed: what ran is each target file's SQL.
    for path, (_, _, statements) in zip(MIGRATIONS, rows, strict=True):
        target = path.resolve()
        assert target.parent == (ROOT / "database").resolve(), path
        assert target.is_file(), path
        assert statements, path
        assert all(s.strip() in target.read_text() for s in statements), path
    failed = [(check, detail) for check, ok, detail in verify(pushed.url) if not ok]
    assert failed == []


def test_db_push_again_applies_nothing(pushed: Pushed) -> None:
    """A second push finds the database up to date and leaves the history as it was."""
    again = supabase("db", "push", "--db-url", pushed.cli_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Remote database is up to date." in again.stdout + again.stderr
    assert "Applying migration" not in again.stdout + again.stderr
    with psycopg.connect(pushed.url) as conn:
        count = conn.execute("select count(*) from supabase_migrations.schema_migrations")
        assert count.fetchone() == (len(MIGRATIONS),)


def test_a_file_pushed_under_its_old_name_is_not_pushed_again(pushed: Pushed) -> None:
    """generations.sql was linked as 20251126000200_image_storage.sql: a project that pushed
    it under that name is up to date, because the CLI goes by the version, which was kept."""
    assert "20251126000200_generations.sql" in [path.name for path in MIGRATIONS]
    with psycopg.connect(pushed.url, autocommit=True) as conn:
        renamed = conn.execute(
            "update supabase_migrations.schema_migrations set name = 'image_storage'"
            " where version = '20251126000200' and name = 'generations'"
        )
        assert renamed.rowcount == 1
        try:
            again = supabase("db", "push", "--db-url", pushed.cli_url)
            listed = supabase(
                "migration", "list", "--db-url", pushed.cli_url, "--output-format", "json"
            )
        finally:
            conn.execute(
                "update supabase_migrations.schema_migrations set name = 'generations'"
                " where version = '20251126000200'"
            )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Remote database is up to date." in again.stdout + again.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)["migrations"]
    assert [row["remote"] for row in rows] == [row["local"] for row in rows]


def test_migration_list_shows_every_migration_applied(pushed: Pushed) -> None:
    """`supabase migration list` pairs each local file with the same remote version."""
    listed = supabase("migration", "list", "--db-url", pushed.cli_url, "--output-format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)["migrations"]
    versions = [path.name.split("_", 1)[0] for path in MIGRATIONS]
    assert [row["local"] for row in rows] == versions
    assert [row["remote"] for row in rows] == versions


def test_db_lint_finds_no_error(pushed: Pushed) -> None:
    """plpgsql_check, run by `supabase db lint`, reports no error in any schema's functions."""
    lint = supabase(
        "db", "lint", "--db-url", pushed.cli_url, "--level", "error", "--fail-on", "error"
    )
    findings = json.loads(lint.stdout) if lint.stdout.strip() else []
    assert findings == [], lint.stdout
    assert lint.returncode == 0, lint.stderr
    assert "No schema errors found" in lint.stderr
    for schema in ("public", "auth", "storage"):
        assert f"Linting schema: {schema}" in lint.stderr
    with psycopg.connect(pushed.url) as conn:
        kept = conn.execute("select extname from pg_catalog.pg_extension").fetchall()
    assert ("plpgsql_check",) not in kept, "db lint must leave the database as it was"


def test_db_lint_finds_no_warning(pushed: Pushed) -> None:
    """Nor any warning: each one was fixed in its function, or, where plpgsql_check cannot
    see what dynamic SQL returns, turned off for that function with the reason beside it."""
    lint = supabase(
        "db", "lint", "--db-url", pushed.cli_url, "--level", "warning", "--fail-on", "warning"
    )
    findings = json.loads(lint.stdout) if lint.stdout.strip() else []
    assert findings == [], lint.stdout
    assert lint.returncode == 0, lint.stderr


def test_db_lint_reports_a_broken_function(pushed: Pushed) -> None:
    """The lint run is a real check: a function reading a missing column is an error."""
    with psycopg.connect(pushed.url, autocommit=True) as conn:
        conn.execute(
            "create function public.lint_probe() returns bigint language plpgsql as"
            " $$ begin return (select sum(no_such_column) from public.user_generations); end $$"
        )
        try:
            lint = supabase(
                "db", "lint", "--db-url", pushed.cli_url, "--level", "error", "--fail-on", "error"
            )
        finally:
            conn.execute("drop function public.lint_probe()")
    assert lint.returncode != 0
    findings = json.loads(lint.stdout)
    assert [f["function"] for f in findings] == ["public.lint_probe"], lint.stdout
    assert "no_such_column" in findings[0]["issues"][0]["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("major_version = 17", "major_version = 16"), "Invalid db.major_version: 16"),
        (('project_id = "genvault"', 'project_id = ""'), "Missing required field in config"),
        (("[db]", "[db\n"), "Invalid TOML document"),
    ],
    ids=["unsupported-major-version", "no-project-id", "not-toml"],
)
def test_a_config_the_cli_rejects_stops_every_command(
    pushed: Pushed, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    """The commands above read supabase/config.toml first: the project's own copy, changed
    in one place the CLI does not accept, makes each fail before touching the database
    (so the checks above fail the same way if the real file goes wrong)."""
    config = (ROOT / "supabase" / "config.toml").read_text()
    old, new = change
    assert config.count(old) == 1, old
    project = tmp_path / "project"
    shutil.copytree(ROOT / "supabase", project / "supabase", symlinks=False)
    (project / "supabase" / "config.toml").write_text(config.replace(old, new))
    for command in (
        ("db", "push", "--db-url", pushed.cli_url),
        ("migration", "list", "--db-url", pushed.cli_url),
        ("db", "lint", "--db-url", pushed.cli_url, "--level", "error"),
    ):
        run = supabase(*command, workdir=project)
        assert run.returncode != 0, (command, run.stdout)
        assert message in run.stderr, (command, run.stderr)
        assert "Connecting to remote database" not in run.stderr, command
