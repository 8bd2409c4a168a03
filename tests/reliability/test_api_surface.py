"""Anyone with the public key reaches only what the contract grants. On Supabase every
privilege of anon or authenticated is an endpoint of /rest/v1: the reviewed list says
why each exists, no table or column can be written except through the functions, and
the database linter's rules find nothing unexplained.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from genvault._migrate import sql_dir
from tests.support.database import acting_as
from tests.support.reliability import Evidence
from tests.support.supabase_cli import MIGRATIONS, pushed_database, supabase
from tests.support.users import create_user, record_generation, user_claims

pytestmark = pytest.mark.usefixtures("database_url")


def _reviewed(name: str, fields: int) -> set[tuple[str, ...]]:
    rows = set()
    for line in (sql_dir() / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.add(tuple(p.strip() for p in line.split(" | ")[:fields]))
    return rows


@pytest.fixture
def owner_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def test_every_privilege_of_the_api_roles_is_reviewed(
    owner_conn: psycopg.Connection[Any], evidence: Evidence
) -> None:
    """Every privilege anon, authenticated and PUBLIC hold in the exposed schemas (schemas,
    tables, columns, sequences, functions, default privileges), listed by
    database/api_surface.sql, equals the reviewed list database/api_surface.txt, whose
    every line gives its reason; none of them writes a table."""
    found = {
        tuple(str(v) for v in r)
        for r in owner_conn.execute((sql_dir() / "api_surface.sql").read_text().encode())
    }
    version = owner_conn.execute("select current_setting('server_version_num')::int").fetchone()
    listed = _reviewed("api_surface.txt", 4)
    if version is not None and version[0] < 170000:
        listed = {r for r in listed if r[1] != "MAINTAIN"}
    assert found == listed
    kinds = Counter((role, kind) for role, _, kind, _ in found)
    evidence.set("privileges reviewed", len(found))
    evidence.set("functions authenticated may call", kinds[("authenticated", "function")])
    evidence.set("functions anon may call", kinds[("anon", "function")])
    evidence.set("tables authenticated may read", kinds[("authenticated", "table")])
    writes = [
        r
        for r in found
        if r[1] in ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
        and r[2] in ("table", "column", "sequence")
    ]
    evidence.set("write privileges on tables, columns or sequences", len(writes))
    assert writes == []


def test_no_table_or_column_can_be_written_directly(
    owner_conn: psycopg.Connection[Any], evidence: Evidence
) -> None:
    """As PostgREST runs a request (role and claims, one transaction), the owner of a
    generation and anon try INSERT, DELETE and an UPDATE of every single column on every
    table in public, aimed at the owner's own rows: each is refused (42501) and the
    database is unchanged."""
    owner = create_user(owner_conn, credits=3)
    record_generation(owner_conn, owner)
    tables = [
        str(r[0])
        for r in owner_conn.execute(
            "select c.relname from pg_catalog.pg_class c"
            " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')"
            " order by 1"
        )
    ]
    before = _fingerprint(owner_conn, tables)
    actors = {"owner": ("authenticated", user_claims(owner)), "anon": ("anon", {"role": "anon"})}
    statements: list[str] = []
    for table in tables:
        columns = [
            str(r[0])
            for r in owner_conn.execute(
                "select attname from pg_catalog.pg_attribute where attrelid = %s::regclass"
                " and attnum > 0 and not attisdropped order by attnum",
                (f"public.{table}",),
            )
        ]
        statements.append(f"insert into public.{table} default values")
        statements.append(f"delete from public.{table}")
        statements += [f"update public.{table} set {c} = {c}" for c in columns]
    refused: Counter[str] = Counter()
    for actor, (role, claims) in actors.items():
        for statement in statements:
            refused[_sqlstate(owner_conn, role, claims, statement)] += 1
            assert set(refused) == {"42501"}, (actor, statement, refused)
    assert _fingerprint(owner_conn, tables) == before
    evidence.set("tables", len(tables))
    evidence.set("direct writes tried", sum(refused.values()))
    evidence.set("refused with 42501", refused["42501"])


def _sqlstate(conn: psycopg.Connection[Any], role: str, claims: Any, statement: str) -> str:
    """The SQLSTATE ``statement`` ends with as ``role`` ("ran" when it succeeds)."""
    try:
        with acting_as(conn, role, claims):
            conn.execute(statement.encode())
            raise psycopg.Rollback
    except psycopg.Error as exc:
        return exc.sqlstate or "unknown"
    return "ran"


def _fingerprint(conn: psycopg.Connection[Any], tables: list[str]) -> str:
    parts = {}
    for table in tables:
        row = conn.execute(
            f"select md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
            f" from public.{table} t"
        ).fetchone()
        parts[table] = row[0] if row else ""
    return json.dumps(parts, sort_keys=True)


def test_the_linter_finds_nothing_unexplained(
    owner_conn: psycopg.Connection[Any], evidence: Evidence
) -> None:
    """database/lint.sql (the rules of Supabase's database linter: RLS disabled, policies
    without RLS or without any policy, mutable search_path, SECURITY DEFINER functions
    anon or authenticated may call, per-row auth.* calls, several permissive policies,
    unindexed foreign keys, duplicate indexes, views and materialized views on the API,
    extensions in public, user_metadata in policies) finds only what
    database/lint_accepted.txt explains."""
    findings = {
        (str(r[0]), str(r[1]))
        for r in owner_conn.execute((sql_dir() / "lint.sql").read_text().encode())
    }
    accepted = _reviewed("lint_accepted.txt", 2)
    assert findings == accepted
    rules = set(re.findall(r"'(00\d\d_\w+)'", (sql_dir() / "lint.sql").read_text()))
    evidence.set("rules checked", len(rules))
    evidence.set("findings", len(findings))
    evidence.set("explained findings", len(findings & accepted))
    by_rule = Counter(rule for rule, _ in findings)
    for rule, n in sorted(by_rule.items()):
        evidence.note(f"lint {rule}: {n} explained")


def test_the_supabase_cli_pushes_lists_and_lints_every_migration(evidence: Evidence) -> None:
    """The real Supabase CLI (2.117.0, no Docker), on a fresh PostgreSQL 15 database
    prepared as Supabase hands one over: `db push` applies every file of
    supabase/migrations in order, `migration list` shows each one applied on both sides,
    and `db lint` (plpgsql_check over every function of every schema) finds no error and
    no warning."""
    with pushed_database() as pushed:
        assert pushed.push.returncode == 0, pushed.push.stdout + pushed.push.stderr
        applied = re.findall(
            r"Applying migration (\S+)\.\.\.", pushed.push.stderr + pushed.push.stdout
        )
        assert applied == [path.name for path in MIGRATIONS]
        listed = supabase(
            "migration", "list", "--db-url", pushed.cli_url, "--output-format", "json"
        )
        rows = json.loads(listed.stdout)["migrations"]
        both = [r for r in rows if r["local"] and r["local"] == r["remote"]]
        assert len(both) == len(MIGRATIONS)
        findings: dict[str, int] = {}
        for level in ("error", "warning"):
            lint = supabase(
                "db", "lint", "--db-url", pushed.cli_url, "--level", level, "--fail-on", level
            )
            found = json.loads(lint.stdout) if lint.stdout.strip() else []
            findings[level] = len(found)
            assert lint.returncode == 0, lint.stdout + lint.stderr
        schemas = re.findall(r"Linting schema: (\w+)", lint.stderr)
    assert findings == {"error": 0, "warning": 0}
    evidence.set("migrations pushed", len(applied))
    evidence.set("migrations listed as applied", len(both))
    evidence.set("schemas linted", len(set(schemas)))
    evidence.set("lint errors", findings["error"])
    evidence.set("lint warnings", findings["warning"])
