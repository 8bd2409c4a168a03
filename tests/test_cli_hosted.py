"""`gen` against a hosted project: the Supabase double (or a real project, when configured).

The CLI builds its Client from the profile's settings; here that Client gets the
backend's recording HTTP client, so every request goes to the double, which
runs the SQL on the real test database.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from genvault import Client, Settings
from genvault._hosted import HostedAuth
from genvault._session import Session, SessionStore
from genvault.cli._context import State
from tests.support.cli import Gen
from tests.support.hosted import PROJECT, HostedBackend


@pytest.fixture
def backend(
    request: pytest.FixtureRequest, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HostedBackend]:
    database_url = None if PROJECT is not None else request.getfixturevalue("database_url")
    hosted = HostedBackend(isolated_env, database_url)

    def settings(self: State) -> Settings:
        return hosted.settings

    def client(self: State) -> Client:
        if self._client is None:
            self._client = Client(hosted.settings, http_client=hosted.http)
        return self._client

    monkeypatch.setattr(State, "settings", settings)
    monkeypatch.setattr(State, "client", client)
    yield hosted
    hosted.close()


@pytest.fixture
def gen(backend: HostedBackend, isolated_env: Path) -> Gen:
    return Gen(None, isolated_env / "genvault")


def test_login_with_password_whoami_and_logout(backend: HostedBackend, gen: Gen) -> None:
    account = backend.account()
    result = gen("login", "--email", account.email, input=f"{account.password}\n")
    assert result.stderr.endswith(
        f"signed in as {account.email} ({backend.settings.supabase_url})\n"
    )
    assert account.password not in result.stdout + result.stderr
    whoami = gen.json("whoami")
    assert whoami["email"] == account.email
    assert whoami["kind"] == "hosted"
    assert whoami["backend"] == f"Supabase project {backend.settings.supabase_url}"
    assert gen.json("credits")["balance"] >= 0
    assert gen("logout").stderr == f"signed out {account.email}\n"
    gen("whoami", code=1)


def test_login_asks_for_the_email_too(backend: HostedBackend, gen: Gen) -> None:
    account = backend.account()
    result = gen("login", input=f"{account.email}\n{account.password}\n")
    assert "email:" in result.stderr
    assert gen.json("whoami")["email"] == account.email


def test_login_with_an_emailed_code(
    backend: HostedBackend, gen: Gen, monkeypatch: pytest.MonkeyPatch
) -> None:
    double = backend.double
    account = backend.account()
    monkeypatch.setattr(secrets, "randbelow", lambda _: 424242)  # the code the double mails
    result = gen("login", "--email", account.email, "--code", input="424242\n")
    assert f"a sign-in code was sent to {account.email}" in result.stderr
    assert result.stderr.endswith(f"signed in as {account.email} ({double.url})\n")
    assert gen.json("whoami")["email"] == account.email


def test_wrong_password_is_one_error(backend: HostedBackend, gen: Gen) -> None:
    account = backend.account()
    result = gen("login", "--email", account.email, input="not-the-password\n", code=1)
    assert result.stderr.count("error: ") == 1
    assert "Traceback" not in result.stderr
    gen("whoami", code=1)


def test_local_login_is_refused_for_a_hosted_profile(gen: Gen) -> None:
    result = gen("login", "--local", "alice", code=1)
    assert result.stderr == (
        "error: local users exist only on the embedded or a plain PostgreSQL database\n"
        "hint: use `gen login` with your email for a hosted project\n"
    )


def test_create_list_show_and_delete_hosted(backend: HostedBackend, gen: Gen) -> None:
    account = backend.account(credits=3)
    gen("login", "--email", account.email, input=f"{account.password}\n")
    made = gen.json("create", "a hosted fox")
    (record,) = made["generations"]
    assert (made["credits_before"], made["credits_after"]) == (3, 2)
    assert record["url"].startswith(f"{backend.settings.supabase_url}/storage/v1/")
    listed = gen.json("list")
    assert [g["id"] for g in listed["items"]] == [record["id"]]
    shown: dict[str, Any] = gen.json("show", record["id"][:8])
    assert shown["prompt"] == "a hosted fox"
    trashed = gen.json("delete", record["id"])
    assert [(t["id"], t["trashed"]) for t in trashed] == [(record["id"], True)]
    assert gen.json("list")["items"] == []
    gone = gen.json("delete", "--permanent", record["id"], "--yes")
    assert gone == [{"id": record["id"], "deleted": True}]


# -- tokens the services refuse: one clear message, never "a bug in genvault" ---------


def _saved_session(backend: HostedBackend) -> tuple[SessionStore, Session]:
    store = SessionStore(backend.settings.profile_dir / "session.json")
    session = store.load()
    assert session is not None
    return store, session


def _refused(result: Any) -> str:
    assert "Traceback" not in result.stdout + result.stderr
    assert "bug in genvault" not in result.stderr
    return str(result.stderr)


@pytest.mark.parametrize("version", [12, 13], ids=["postgrest12", "postgrest13"])
def test_a_token_postgrest_finds_expired_says_to_sign_in_again(
    backend: HostedBackend, gen: Gen, version: Any
) -> None:
    double = backend.double
    double.postgrest_version = version
    account = backend.account()
    gen("login", "--email", account.email, input=f"{account.password}\n")
    store, session = _saved_session(backend)
    # Our clock says the token is fresh; the server's says it expired (skew).
    expired = double.mint_access_token(session.user_id, ttl=-60)
    store.save(replace(session, access_token=expired))
    stderr = _refused(gen("credits", code=1))
    assert "expired" in stderr
    assert "sign in again with `gen login`" in stderr


@pytest.mark.parametrize("version", [12, 13], ids=["postgrest12", "postgrest13"])
def test_a_token_with_an_unknown_role_is_one_clear_error(
    backend: HostedBackend, gen: Gen, version: Any
) -> None:
    double = backend.double
    double.postgrest_version = version
    account = backend.account()
    gen("login", "--email", account.email, input=f"{account.password}\n")
    store, session = _saved_session(backend)
    store.save(
        replace(
            session,
            access_token=double.mint_access_token(session.user_id, extra={"role": "editor"}),
        )
    )
    stderr = _refused(gen("credits", code=1))
    assert "'editor'" in stderr
    assert "gen login" in stderr


def test_a_session_ended_by_refresh_token_reuse_says_to_sign_in_again(
    backend: HostedBackend, gen: Gen
) -> None:
    double = backend.double
    account = backend.account()
    gen("login", "--email", account.email, input=f"{account.password}\n")
    store, copied = _saved_session(backend)
    # The session is used elsewhere and refreshed twice; then this copy wakes up.
    elsewhere = SessionStore(backend.settings.home / "elsewhere.json")
    for _ in range(2):
        saved = elsewhere.load() or copied
        elsewhere.save(replace(saved, expires_at=time.time() + 5))
        HostedAuth(backend.client(), elsewhere).current()
    double.advance(double.refresh_reuse_interval + 1)
    store.save(replace(copied, expires_at=time.time() + 5))
    stderr = _refused(gen("credits", code=1))
    assert "used again" in stderr
    assert "sign in again with `gen login`" in stderr
