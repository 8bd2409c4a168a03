"""The pgTAP suite in supabase/tests, run with pg_prove against PostgreSQL 15.

Debian's PostgreSQL 15 on 127.0.0.1:5432 has pgTAP installed (the embedded
server does not). The test creates a scratch database there, applies
genvault's migrations as `gen db migrate` does, installs pgTAP in the
extensions schema (where Supabase keeps it) and runs every
supabase/tests/*.test.sql file, as `supabase test db` would.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from genvault._migrate import migrate

PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"
TESTS = Path(__file__).resolve().parents[1] / "supabase" / "tests"


def test_pgtap_suite_passes_on_postgres_15() -> None:
    """Every pgTAP file passes on a freshly migrated PostgreSQL 15 database."""
    files = sorted(TESTS.glob("*.test.sql"))
    assert len(files) >= 4, f"expected the pgTAP files in {TESTS}"
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, (
        "pg_prove is not installed (Debian package libtap-parser-sourcehandler-pgtap-perl)"
    )
    try:
        admin = psycopg.connect(PG15, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL 15 is not reachable at 127.0.0.1:5432 ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect 15 main start`"
        )
    name = f"genvault_pgtap_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'create database "{name}"')
        try:
            url = PG15.rsplit("/", 1)[0] + f"/{name}"
            migrate(url)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("create extension if not exists pgtap with schema extensions")
            run = subprocess.run(
                [
                    pg_prove,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "5432",
                    "-U",
                    "postgres",
                    "-d",
                    name,
                    *map(str, files),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            admin.execute(f'drop database if exists "{name}" with (force)')
    assert run.returncode == 0, run.stdout + run.stderr
    assert "All tests successful." in run.stdout
