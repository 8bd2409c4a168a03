"""Local sign-in: the database makes local users, only for its owner, and says why it cannot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault import Client, GenvaultError, InvalidInput, NotSignedIn, Settings
from genvault._embedded import _schema_current
from genvault._migrate import migrate
from tests.support.database import acting_as, scratch_database

_LOCAL_USER = "select user_id, user_email from auth.genvault_local_user(%s)"


@pytest.fixture
def scratch_url(server_url: str) -> Iterator[str]:
    """A migrated database of the test's own: these tests drop and alter the SQL."""
    with scratch_database(server_url, prefix="gv_signin") as url:
        migrate(url)
        yield url


def test_the_local_user_function_makes_a_user_once(admin: psycopg.Connection[Any]) -> None:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    first = admin.execute(_LOCAL_USER, (name,)).fetchone()
    again = admin.execute(_LOCAL_USER, (name,)).fetchone()
    assert first is not None
    assert first == again
    assert first["user_email"] == f"{name}@local.genvault"
    balance = admin.execute(
        "select credits from public.user_credits where user_id = %s", (str(first["user_id"]),)
    ).fetchone()
    assert balance == {"credits": 10}  # the sign-up trigger ran, once


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_no_api_role_may_make_local_users(admin: psycopg.Connection[Any], role: str) -> None:
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(admin, role, {"role": role, "sub": str(uuid.uuid4())}),
    ):
        admin.execute(_LOCAL_USER, ("intruder",))
    found = admin.execute(
        "select count(*) as n from auth.users where email = 'intruder@local.genvault'"
    ).fetchone()
    assert found == {"n": 0}


@pytest.mark.parametrize(
    "name", ["Upper", "with space", "-dash-first", "a" * 64, "line\n", "", "dot@at"]
)
def test_unusable_names_are_refused_by_the_database(database_url: str, name: str) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InvalidParameterValue) as refused,
    ):
        conn.execute(_LOCAL_USER, (name,))
    assert refused.value.diag.message_primary == f"'{name}' is not a usable local user name"


def test_the_client_reports_the_databases_refusal(database_url: str, tmp_path: Path) -> None:
    with (
        Client(Settings(home=tmp_path, database_url=database_url)) as gv,
        pytest.raises(InvalidInput) as refused,
    ):
        gv.sign_in_local("Not A Name")
    assert refused.value.message == "'Not A Name' is not a usable local user name"
    assert refused.value.hint == (
        "use lower-case letters, digits, '.', '-' and '_' (up to 63 characters)"
    )
    assert gv.session() is None


def test_an_old_compatibility_layer_is_brought_up_to_date(scratch_url: str, tmp_path: Path) -> None:
    """A database migrated before the local-user function existed gets it from migrate."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("drop function auth.genvault_local_user(text)")
        conn.execute(
            "update genvault_meta.migrations set checksum = 'older'"
            " where name = 'supabase_compat.sql'"
        )
    settings = Settings(home=tmp_path, database_url=scratch_url)
    with Client(settings) as gv, pytest.raises(GenvaultError) as stale:
        gv.sign_in_local("early")
    assert stale.value.message == (
        "genvault's SQL in this database is missing or older than this genvault"
    )
    assert stale.value.hint == "apply it with `gen db migrate`"
    assert _schema_current(scratch_url) is False
    statuses = {r.name: r.status for r in migrate(scratch_url)}
    assert statuses["supabase_compat.sql"] == "reapplied"
    assert _schema_current(scratch_url) is True
    with Client(settings) as gv:
        assert gv.sign_in_local("early").email == "early@local.genvault"
        assert gv.credits.balance() == 10


def test_a_supabase_database_has_no_local_users(scratch_url: str, tmp_path: Path) -> None:
    """Where genvault never applied its compatibility layer, Supabase Auth owns the users."""
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("drop function auth.genvault_local_user(text)")
        conn.execute("delete from genvault_meta.migrations where name = 'supabase_compat.sql'")
    with (
        Client(Settings(home=tmp_path, database_url=scratch_url)) as gv,
        pytest.raises(InvalidInput) as refused,
    ):
        gv.sign_in_local("alice")
    assert refused.value.message == (
        "this database is a Supabase project: its users sign in with Supabase Auth"
    )


def test_schema_current_needs_every_migration_as_shipped(scratch_url: str) -> None:
    assert _schema_current(scratch_url) is True
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("delete from genvault_meta.migrations where name = 'organising.sql'")
    assert _schema_current(scratch_url) is False
    migrate(scratch_url)
    assert _schema_current(scratch_url) is True
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        conn.execute("drop schema genvault_meta cascade")
    assert _schema_current(scratch_url) is False


def test_a_damaged_local_session_is_not_signed_in(database_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=database_url)
    session_file = settings.profile_dir / "session.json"
    session_file.parent.mkdir(parents=True)
    session_file.write_text(json.dumps({"kind": "local", "user_id": "x'; drop table --"}))
    with Client(settings) as gv, pytest.raises(NotSignedIn) as refused:
        gv.credits.balance()
    assert refused.value.message == "the saved session does not name a user id"
    assert gv._pool is None  # refused before any connection was made


def test_a_local_session_runs_without_a_token_or_a_secret(
    database_url: str, tmp_path: Path
) -> None:
    """Local files and a local session: the process makes the claims, nothing signs them."""
    settings = Settings(home=tmp_path, database_url=database_url)
    with Client(settings) as gv:
        user = gv.sign_in_local(f"plain-{uuid.uuid4().hex[:8]}")
        assert gv.credits.balance() == 10
        assert gv._user()[2] == user.user_id
    assert not (tmp_path / "jwt_secret").exists()
