"""Where the hosted tests run: the Supabase double by default, or a real project.

A real project is used when these are set in the environment of the test run:
SUPABASE_URL, SUPABASE_ANON_KEY (or SUPABASE_PUBLISHABLE_KEY), GENVAULT_TEST_EMAIL
and GENVAULT_TEST_PASSWORD (a confirmed user of that project). Optional:
GENVAULT_TEST_EMAIL_2 / GENVAULT_TEST_PASSWORD_2 (a second user, for the
ownership tests), SUPABASE_SERVICE_ROLE_KEY or SUPABASE_SECRET_KEY (operator
tests) and GENVAULT_BUCKET. They are read when this module is imported, because
the suite's autouse fixture clears SUPABASE_* inside each test.

Either way a test gets a :class:`HostedBackend`: settings for the project, one
``httpx.Client`` that records every request it sends (so tests can check the
headers, paths and bodies that went out), and test accounts. Tests that need
what only the double can do (a balance of 0, reading an emailed code, taking
the network away) get it from :attr:`HostedBackend.double`, which skips the
test on a real project.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import supabase
from PIL import Image

from genvault._hosted import HostedAuth, HostedTransport, SupabaseStorage, make_supabase_client
from genvault._session import Session, SessionStore
from genvault._settings import Settings
from tests.support.supabase_double import PUBLIC_KEY, SECRET_KEY, SupabaseDouble
from tests.support.users import TEST_JWT_SECRET, create_user

__all__ = [
    "PROJECT",
    "Account",
    "HostedBackend",
    "ProjectConfig",
    "json_body",
    "user_storage",
    "user_transport",
    "webp",
]


@dataclass(frozen=True)
class ProjectConfig:
    """A real Supabase project to run the hosted tests against."""

    url: str
    public_key: str
    service_key: str | None
    bucket: str
    accounts: tuple[tuple[str, str], ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProjectConfig | None:
        """The project named by the environment, or None to use the double."""
        url = env.get("SUPABASE_URL")
        key = env.get("SUPABASE_ANON_KEY") or env.get("SUPABASE_PUBLISHABLE_KEY")
        accounts = tuple(
            (env[f"GENVAULT_TEST_EMAIL{n}"], env[f"GENVAULT_TEST_PASSWORD{n}"])
            for n in ("", "_2")
            if env.get(f"GENVAULT_TEST_EMAIL{n}") and env.get(f"GENVAULT_TEST_PASSWORD{n}")
        )
        if not (url and key and accounts):
            return None
        return cls(
            url=url.rstrip("/"),
            public_key=key,
            service_key=env.get("SUPABASE_SERVICE_ROLE_KEY") or env.get("SUPABASE_SECRET_KEY"),
            bucket=env.get("GENVAULT_BUCKET") or "generations",
            accounts=accounts,
        )


PROJECT = ProjectConfig.from_env(os.environ)


@dataclass(frozen=True)
class Account:
    """A user that can sign in with a password."""

    email: str
    password: str


class HostedBackend:
    """A Supabase project for one test: the double (default) or a real one."""

    def __init__(self, home: Path, database_url: str | None) -> None:
        self.requests: list[httpx.Request] = []
        self._double: SupabaseDouble | None = None
        self._taken = 0
        self._home = home
        if PROJECT is not None:
            url, key, self.service_key = PROJECT.url, PROJECT.public_key, PROJECT.service_key
            bucket, transport = PROJECT.bucket, None
        else:
            self._double = SupabaseDouble(jwt_secret=TEST_JWT_SECRET, database_url=database_url)
            url, key, self.service_key = self._double.url, PUBLIC_KEY, SECRET_KEY
            bucket, transport = "generations", self._double.transport()
        self._database_url = database_url
        self.settings = Settings(
            home=home / "genvault",
            supabase_url=url,
            supabase_key=key,
            supabase_service_key=self.service_key,
            bucket=bucket,
        )
        self.http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(30.0, connect=10.0),
            event_hooks={"request": [self._record]},
        )

    @property
    def is_double(self) -> bool:
        """True when the requests go to the in-memory double."""
        return self._double is not None

    @property
    def double(self) -> SupabaseDouble:
        """The double behind the client; skips the test on a real project."""
        if self._double is None:
            pytest.skip("needs the Supabase double (it controls what a real project cannot)")
        return self._double

    def _record(self, request: httpx.Request) -> None:
        request.read()
        self.requests.append(request)

    def client(self, *, service: bool = False) -> supabase.Client:
        """A Supabase client made by genvault, over the recording HTTP client."""
        if service and not self.service_key:
            pytest.skip("needs SUPABASE_SERVICE_ROLE_KEY for the real project")
        key = self.service_key if service else None
        return make_supabase_client(self.settings, http_client=self.http, key=key)

    def store(self, name: str = "session") -> SessionStore:
        """A session file of its own under the test's home."""
        return SessionStore(self._home / "profiles" / name / "session.json")

    def account(self, *, credits: int | None = None) -> Account:
        """A user to sign in as: a new one on the double, the configured ones on a project."""
        if self._double is None:
            assert PROJECT is not None
            if credits is not None:
                pytest.skip("setting a user's balance needs the Supabase double")
            if self._taken >= len(PROJECT.accounts):
                pytest.skip("needs GENVAULT_TEST_EMAIL_2 / GENVAULT_TEST_PASSWORD_2")
            email, password = PROJECT.accounts[self._taken]
            self._taken += 1
            return Account(email, password)
        assert self._database_url is not None
        with psycopg.connect(self._database_url, autocommit=True) as conn:
            user = create_user(conn, credits=credits)
        password = secrets.token_urlsafe(12)
        self._double.add_user(user.email, password, user_id=user.id)
        return Account(user.email, password)

    def sign_in(self, account: Account, store: SessionStore | None = None) -> Session:
        """Sign ``account`` in with its password, saving the session in ``store``."""
        auth = HostedAuth(self.client(), store or self.store(account.email.split("@")[0]))
        return auth.sign_in_password(account.email, account.password)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        """The recorded requests with this method whose URL path starts with ``path``."""
        return [r for r in self.requests if r.method == method and r.url.path.startswith(path)]

    def close(self) -> None:
        """Close connections; fail the test if the double saw a malformed request."""
        self.http.close()
        if self._double is not None:
            self._double.close()
            assert not self._double.violations, "\n".join(self._double.violations)


def json_body(request: httpx.Request) -> Any:
    """The JSON body of a recorded request."""
    return json.loads(request.content)


def webp(colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """A small WebP image of one colour."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "WEBP")
    return out.getvalue()


def user_transport(backend: HostedBackend, *, credits: int | None = None) -> tuple[Session, Any]:
    """A new account of ``backend`` signed in, and a transport acting as it."""
    session = backend.sign_in(backend.account(credits=credits))
    assert session.access_token is not None
    return session, HostedTransport(backend.client(), session.access_token)


def user_storage(backend: HostedBackend, session: Session, **kwargs: Any) -> SupabaseStorage:
    """The project's Storage as the user of ``session``."""
    assert session.access_token is not None
    return SupabaseStorage(
        backend.client(), session.access_token, backend.settings.bucket, **kwargs
    )
