"""The real Supabase CLI (installed by `scripts/test` in `.tools/`), run on a fresh
PostgreSQL 15 database prepared as Supabase hands one over."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from genvault._migrate import sql_dir
from tests.support.database import scratch_database

__all__ = ["MIGRATIONS", "PG15", "ROOT", "SUPABASE", "Pushed", "pushed_database", "supabase"]

PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[2]
SUPABASE = ROOT / ".tools" / "node_modules" / ".bin" / "supabase"
MIGRATIONS = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))


def supabase(*args: str, workdir: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the Supabase CLI on the project in ``workdir``, answering yes to prompts."""
    assert SUPABASE.exists(), (
        f"the Supabase CLI is not installed at {SUPABASE}; `scripts/test` installs it "
        "(npm install --prefix .tools)"
    )
    return subprocess.run(
        [str(SUPABASE), *args, "--workdir", str(workdir), "--yes"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@dataclass(frozen=True)
class Pushed:
    """A PostgreSQL 15 database after `supabase db push`, and what the CLI said."""

    url: str
    cli_url: str
    push: subprocess.CompletedProcess[str]


@contextmanager
def pushed_database() -> Iterator[Pushed]:
    """A fresh PostgreSQL 15 database as Supabase hands it over, then `supabase db push`."""
    try:
        psycopg.connect(PG15, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL 15 is not reachable at 127.0.0.1:5432 ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect 15 main start`"
        )
    with scratch_database(PG15, "genvault_supabase_cli") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            available = conn.execute(
                "select 1 from pg_catalog.pg_available_extensions where name = 'plpgsql_check'"
            ).fetchone()
            assert available, (
                "plpgsql_check is not installed in PostgreSQL 15 (Debian package "
                "postgresql-15-plpgsql-check); `supabase db lint` needs it"
            )
            conn.execute((sql_dir() / "supabase_compat.sql").read_text().encode())
        cli_url = f"{url}?sslmode=disable"
        yield Pushed(url, cli_url, supabase("db", "push", "--db-url", cli_url))
