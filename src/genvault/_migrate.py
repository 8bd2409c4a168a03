"""Applying genvault's SQL, in order, exactly once.

The SQL lives in ``database/`` (shipped in the wheel as ``genvault/_database``).
Each applied file is recorded with its SHA-256 in ``genvault_meta.migrations``:
re-running is a no-op. Every file is idempotent, so until 1.0 a file may be
edited in place and is applied again when its checksum changes ("reapplied");
from 1.0 on, :data:`APPEND_ONLY` turns that into drift that is left alone. A file
that was renamed keeps its record under the new name (:data:`RENAMED`), so a
database that applied it under the old one does not apply it again as new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import psycopg

from genvault._exceptions import GenvaultError, error_from_code

__all__ = [
    "APPEND_ONLY",
    "MIGRATIONS",
    "RENAMED",
    "Migration",
    "MigrationResult",
    "migrate",
    "schema_text",
    "sql_dir",
    "verify",
]


@dataclass(frozen=True)
class Migration:
    """One SQL file and where it applies."""

    name: str
    plain_postgres_only: bool = False
    """Only where the server is not a Supabase project (the compatibility layer)."""
    needs_storage: bool = False
    """Only where Supabase Storage's schema exists."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration("supabase_compat.sql", plain_postgres_only=True),
    Migration("credits.sql"),
    Migration("generations.sql"),
    Migration("monitoring.sql"),
    Migration("storage.sql", needs_storage=True),
    Migration("history_at_scale.sql"),
    Migration("organising.sql"),
    Migration("storage_sharing.sql", needs_storage=True),
)

RENAMED: dict[str, str] = {"generations.sql": "add_image_storage.sql"}
"""Each migration file that was renamed, by its new name, with the name it had:
a database that recorded the old name has applied it already."""

Status = Literal["applied", "reapplied", "unchanged", "drift", "skipped"]

APPEND_ONLY = False
"""Whether an applied file must never change (from 1.0 on). Before that, every
file is idempotent and a changed one is simply applied again."""


@dataclass(frozen=True)
class MigrationResult:
    """What happened to one migration file."""

    name: str
    status: Status
    detail: str = ""


def sql_dir() -> Path:
    """The folder holding genvault's SQL files (installed wheel or source checkout)."""
    shipped = resources.files("genvault") / "_database"
    if shipped.is_dir():
        return Path(str(shipped))
    source = Path(__file__).resolve().parents[2] / "database"
    if source.is_dir():
        return source
    raise GenvaultError("genvault's SQL files are missing from this installation")


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_META = """
create schema if not exists genvault_meta;
comment on schema genvault_meta is 'genvault bookkeeping; not exposed through the API.';
create table if not exists genvault_meta.migrations (
  name text primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
);
comment on table genvault_meta.migrations is
  'Which genvault SQL files were applied, with their SHA-256.';
alter table genvault_meta.migrations enable row level security;
revoke all on schema genvault_meta from public;
"""


def migrate(conninfo: str) -> list[MigrationResult]:
    """Apply every pending migration to the database at ``conninfo``.

    Runs as the connecting (owner) role, one transaction per file, under an
    advisory lock so that two processes never migrate at once.
    """
    folder = sql_dir()
    results: list[MigrationResult] = []
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("select pg_advisory_lock(hashtext('genvault.migrate'))")
            try:
                conn.execute(_META)
                _follow_renames(conn)
                applied: dict[str, str] = {
                    str(name): str(checksum)
                    for name, checksum in conn.execute(
                        "select name, checksum from genvault_meta.migrations"
                    ).fetchall()
                }
                for migration in MIGRATIONS:
                    results.append(_apply_one(conn, folder, migration, applied))
            finally:
                conn.execute("select pg_advisory_unlock(hashtext('genvault.migrate'))")
    except psycopg.OperationalError as exc:
        raise error_from_code("08001", f"could not connect to the database: {exc}") from exc
    except psycopg.Error as exc:
        raise error_from_code(
            exc.sqlstate, f"migration failed: {exc.diag.message_primary or exc}"
        ) from exc
    return results


def _follow_renames(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Record under its new name each file this database applied under an old one.

    The checksum stays, so the file counts as unchanged if only its name
    changed, and as edited in place (applied again) if its text changed too.
    """
    for new, old in RENAMED.items():
        conn.execute(
            "update genvault_meta.migrations set name = %s where name = %s"
            " and not exists (select from genvault_meta.migrations where name = %s)",
            (new, old, new),
        )


def _apply_one(
    conn: psycopg.Connection[tuple[object, ...]],
    folder: Path,
    migration: Migration,
    applied: dict[str, str],
) -> MigrationResult:
    text = (folder / migration.name).read_text()
    checksum = _checksum(text)
    changed = migration.name in applied
    if changed:
        if applied[migration.name] == checksum:
            return MigrationResult(migration.name, "unchanged")
        if APPEND_ONLY:
            return MigrationResult(
                migration.name,
                "drift",
                "the file changed after it was applied; add a new migration instead of editing it",
            )
    # Once genvault applied the compatibility layer, the auth schema it finds is
    # its own: a changed layer is applied again like any other file.
    if migration.plain_postgres_only and not changed and _has_foreign_auth(conn):
        return MigrationResult(migration.name, "skipped", "Supabase auth schema found")
    if migration.needs_storage and not _has_storage(conn):
        return MigrationResult(migration.name, "skipped", "no Supabase Storage schema here")
    with conn.transaction():
        conn.execute("set local search_path = public, extensions")
        conn.execute(text.encode())
        conn.execute(
            "insert into genvault_meta.migrations (name, checksum) values (%s, %s)"
            " on conflict (name) do update"
            " set checksum = excluded.checksum, applied_at = now()",
            (migration.name, checksum),
        )
    return MigrationResult(migration.name, "reapplied" if changed else "applied")


def _has_foreign_auth(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """An auth.uid() that genvault did not create means a real Supabase database."""
    row = conn.execute("select to_regprocedure('auth.uid()') is not null").fetchone()
    return bool(row and row[0])


def _has_storage(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("select to_regclass('storage.objects') is not null").fetchone()
    return bool(row and row[0])


_ASSERT_MARKER = "-- genvault:assert"


def verify(conninfo: str) -> list[tuple[str, bool, str]]:
    """Run ``verify.sql``: a list of (check, passed, detail), one per check.

    The file ends with a block that raises when a check fails (for the SQL
    editor); here only the part before that block runs, and the caller decides.
    """
    text = (sql_dir() / "verify.sql").read_text().split(_ASSERT_MARKER)[0]
    try:
        with psycopg.connect(conninfo) as conn:
            cur = conn.execute(text.encode())
            rows: list[tuple[object, ...]] = []
            while True:  # the checks are the last statement's result
                if cur.description is not None:
                    rows = cur.fetchall()
                if not cur.nextset():
                    break
            conn.rollback()
    except psycopg.OperationalError as exc:
        raise error_from_code("08001", f"could not connect to the database: {exc}") from exc
    return [(str(check), bool(ok), str(detail or "")) for check, ok, detail in rows]


def schema_text(conninfo: str) -> str:
    """The schema of the database at ``conninfo`` as text, by ``schema_snapshot.sql``.

    ``database/schema.sql`` is this text for a freshly migrated database; the
    file's settings last only for the transaction, which is rolled back.
    """
    text = (sql_dir() / "schema_snapshot.sql").read_text()
    try:
        with psycopg.connect(conninfo) as conn:
            cur = conn.execute(text.encode())
            while cur.description is None and cur.nextset():
                pass
            row = cur.fetchone()
            conn.rollback()
    except psycopg.OperationalError as exc:
        raise error_from_code("08001", f"could not connect to the database: {exc}") from exc
    return str(row[0]) if row else ""
