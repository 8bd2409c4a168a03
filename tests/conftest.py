"""Shared fixtures: a real PostgreSQL per test session, users and clients signed in
as them, a fake Replicate, a web gallery in Chromium, and a clean environment.

The database is the embedded server genvault ships with, started by the
fixture in a temporary folder, or the server named by TEST_DATABASE_URL (the
test command also runs the suite against Debian's PostgreSQL 15 that way).
Each session gets a freshly created and migrated database, dropped at the end.
What these fixtures are built from lives in tests/support.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg.rows import dict_row

from genvault import Client
from genvault._migrate import migrate
from genvault.web import create_app
from tests.support.database import scratch_database
from tests.support.fake_replicate import FakeReplicate
from tests.support.fake_replicate import serve as serve_replicate
from tests.support.library import ClientOf, SignedIn, SignIn, client_for
from tests.support.users import User, create_user, record_generation
from tests.support.web import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SECRET, Gallery, serve

_ENV_PREFIXES = ("GENVAULT_", "SUPABASE_", "REPLICATE_", "DATABASE_URL", "NO_COLOR")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of the PostgreSQL server under test (any database on it).

    TEST_DATABASE_URL when set; else the embedded server, started here in a
    temporary folder and stopped when the session ends.
    """
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from genvault._embedded import embedded_url, stop_embedded

    home = tmp_path_factory.mktemp("embedded-pg")
    yield embedded_url(home)
    stop_embedded(home)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database on the server, with every genvault migration applied."""
    with scratch_database(server_url, "genvault_test") as url:
        migrate(url)
        yield url


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection as the database owner (bypasses RLS), autocommit."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def make_user(admin: psycopg.Connection[dict[str, Any]]) -> Any:
    """Factory: ``make_user(credits=N)`` signs up a new user."""

    def factory(credits: int | None = None) -> User:
        return create_user(admin, credits=credits)

    return factory


@pytest.fixture
def make_generation(admin: psycopg.Connection[dict[str, Any]]) -> Any:
    """Factory: ``make_generation()`` signs up a user with credits and records one
    generation of theirs through the contract; returns (user, generation id)."""

    def factory(prompt: str = "a recorded image") -> tuple[User, str]:
        user = create_user(admin, credits=3)
        return user, record_generation(admin, user, prompt)

    return factory


@pytest.fixture
def client_of(database_url: str, tmp_path: Path) -> Iterator[ClientOf]:
    """Factory: ``client_of(user)`` is a new Client signed in as ``user``, on the direct
    transport, keeping images under the test's ``tmp_path``; any left open is closed
    when the test ends."""
    with ExitStack() as stack:

        def open_client(user: User) -> Client:
            client = client_for(user, database_url, tmp_path)
            stack.callback(client.close)
            return client

        yield open_client


@pytest.fixture
def signed_in(make_user: Any, client_of: ClientOf) -> SignIn:
    """Factory: ``signed_in(credits=N)`` signs up a new user with N credits (without N,
    the balance a new account starts with) and gives them a Client, as
    ``with signed_in(credits=N) as (user, client):``."""

    def factory(credits: int | None = None) -> SignedIn:
        user = make_user(credits=credits)
        return SignedIn(user, client_of(user))

    return factory


@pytest.fixture
def fake_replicate() -> Iterator[FakeReplicate]:
    """A fresh fake Replicate for one test; ``api_url`` goes in REPLICATE_BASE_URL."""
    with serve_replicate() as fake:
        yield fake


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def gallery(make_user: Any, database_url: str, tmp_path: Path) -> Iterator[Callable[..., Gallery]]:
    """Factory: ``gallery(credits=N)`` serves a gallery for a new user with N credits.

    Every gallery of one test keeps its images in the same data folder, as
    galleries of several users on one machine do.
    """
    with ExitStack() as stack:

        def start(credits: int = 10) -> Gallery:
            user = make_user(credits=credits)
            client = stack.enter_context(client_for(user, database_url, tmp_path / "data"))
            url = stack.enter_context(serve(create_app(client, csrf_secret=SECRET)))
            return Gallery(url, user, client)

        yield start


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer setting or `.env` leaks into a test: a fresh HOME and data folder."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GENVAULT_HOME", str(home / "genvault"))
    monkeypatch.chdir(tmp_path)
    return home
