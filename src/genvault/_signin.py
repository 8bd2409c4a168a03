"""Signing in, signing out, and who the calls of a Client run as.

A Client acts for one user, named by one of:

* an access token handed to the Client (a service acting for a user who sent it);
* a local session (``gen login --local NAME``): a user of the embedded or a
  plain PostgreSQL, created by the SQL function ``auth.genvault_local_user``;
* a hosted session (``gen login``): Supabase Auth's tokens, refreshed shortly
  before they expire.

On a direct database a token is verified here, before any SQL runs (PostgREST
verifies hosted tokens itself). A local session needs no token: this process
makes its claims, so neither a JWT library nor a signing key is touched unless
something outside the process (Supabase Storage) must check them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from genvault._backends import Backends
from genvault._exceptions import (
    GenvaultError,
    InvalidInput,
    NotSignedIn,
    error_from_code,
)
from genvault._session import Session, SessionStore
from genvault._settings import Settings

if TYPE_CHECKING:
    from genvault._hosted_auth import HostedAuth
    from genvault._tokens import TokenVerifier

__all__ = ["Access", "SignIn"]

_LOCAL_TOKEN_TTL = 3600


@dataclass(frozen=True)
class Access:
    """What the calls of the signed-in user run with."""

    claims: dict[str, Any]
    """Verified on a direct database; as the token says on a hosted project."""
    token: str | None
    """The access token Supabase checks; None for a local session that needs none."""

    @property
    def user_id(self) -> str:
        return str(self.claims.get("sub"))

    @property
    def expires_at(self) -> float:
        """Seconds since the epoch when the access runs out (a token without ``exp``: soon)."""
        return float(self.claims.get("exp") or time.time() + 300)


class SignIn:
    """Signs users in and out of one profile, and says who is signed in."""

    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        backends: Backends,
        *,
        access_token: str | None = None,
        http_client: Any = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._backends = backends
        self._access_token = access_token
        self._http_client = http_client
        self._verifier: TokenVerifier | None = None
        self._lock = threading.Lock()

    # -- signing in and out -------------------------------------------------
    def local(self, name: str) -> Session:
        """Sign in as the local user ``name``, created (with starter credits) on first use."""
        if self._settings.hosted:
            raise InvalidInput(
                "local users exist only on the embedded or a plain PostgreSQL database",
                hint="use `gen login` with your email for a hosted project",
            )
        with self._backends.owner_connection() as conn:
            user_id, email = _local_user(conn, name)
        session = Session(kind="local", user_id=user_id, email=email)
        self._store.save(session)
        return session

    def with_password(self, email: str, password: str) -> Session:
        """Sign in to the hosted project with email and password."""
        return self._email_auth().sign_in_password(email, password)

    def send_code(self, email: str) -> None:
        """Email a one-time sign-in code (hosted)."""
        self._email_auth().send_code(email)

    def verify_code(self, email: str, code: str) -> Session:
        """Sign in with the emailed one-time code (hosted)."""
        return self._email_auth().verify_code(email, code)

    def sign_out(self) -> None:
        """Revoke a hosted session at Supabase Auth, and forget the saved session."""
        session = self._store.load()
        if session is not None and session.kind == "hosted" and self._settings.supabase_url:
            self._auth().sign_out()
        self._store.clear()

    # -- who is signed in ---------------------------------------------------
    def access(self) -> Access:
        """The signed-in user's claims (and token), refreshed if needed."""
        if self._access_token is not None:
            return self._from_token(self._access_token)
        session = self._store.load()
        if session is None:
            raise NotSignedIn("nobody is signed in", hint="sign in with `gen login`")
        if session.kind == "local":
            return self._local_access(session)
        token = self._auth().current().access_token
        assert token is not None  # current() returns only sessions with a token
        return self._from_token(token)

    def _local_access(self, session: Session) -> Access:
        if self._settings.hosted:
            raise NotSignedIn(
                "the saved session is a local one, but this profile is hosted",
                hint="sign in with `gen login`",
            )
        from genvault._tokens import local_claims, mint_token

        claims = local_claims(session.user_id, email=session.email, ttl=_LOCAL_TOKEN_TTL)
        token = None
        if self._settings.storage_kind == "supabase":
            # A project's Storage checks a signed token: sign one with the project's secret.
            secret = self._signing_secret()
            assert secret is not None  # not hosted: a direct database always has one
            token = mint_token(
                secret, sub=session.user_id, email=session.email, ttl=_LOCAL_TOKEN_TTL
            )
        return Access(claims, token)

    def _from_token(self, token: str) -> Access:
        if self._settings.hosted:
            # PostgREST verifies hosted tokens; read the user id for storage paths.
            return Access(_unverified_claims(token), token)
        return Access(self._token_verifier().verify(token), token)

    # -- what signing in needs ----------------------------------------------
    def _auth(self) -> HostedAuth:
        from genvault._hosted_auth import HostedAuth

        return HostedAuth(self._backends.supabase(), self._store)

    def _email_auth(self) -> HostedAuth:
        if not self._settings.supabase_url:
            raise InvalidInput(
                "email sign-in needs a hosted Supabase project",
                hint="set SUPABASE_URL and SUPABASE_ANON_KEY, or use `gen login --local NAME`",
            )
        return self._auth()

    def _token_verifier(self) -> TokenVerifier:
        with self._lock:
            if self._verifier is None:
                from genvault._tokens import TokenVerifier

                keys = None
                url = self._settings.signing_keys_url
                if url:
                    from genvault._jwks import SigningKeys, http_fetcher

                    # Read when a token first needs them, then kept (see SigningKeys).
                    fetch = http_fetcher(self._http_client, api_key=self._settings.supabase_key)
                    keys = SigningKeys(url, fetch)
                self._verifier = TokenVerifier(secret=self._signing_secret(), keys=keys)
            return self._verifier

    def _signing_secret(self) -> str | None:
        if self._settings.jwt_secret:
            return self._settings.jwt_secret
        if self._settings.embedded or self._settings.database_url:
            from genvault._tokens import local_secret

            return local_secret(self._settings.home / "jwt_secret")
        return None


def _local_user(conn: psycopg.Connection[Any], name: str) -> tuple[str, str]:
    """(user id, email) of the local user ``name``, made by the database's own function."""
    try:
        row = conn.execute(
            "select user_id, user_email from auth.genvault_local_user(%s)", (name,)
        ).fetchone()
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as exc:
        raise _no_local_users(conn) from exc
    except psycopg.Error as exc:
        if exc.sqlstate is None:
            raise
        raise error_from_code(
            exc.sqlstate, exc.diag.message_primary or str(exc), exc.diag.message_hint
        ) from exc
    assert row is not None  # the function returns one row or raises
    return str(row[0]), str(row[1])


def _no_local_users(conn: psycopg.Connection[Any]) -> GenvaultError:
    """Why a database has no local-user function: a Supabase project, or SQL not applied."""
    row = conn.execute(
        "select to_regprocedure('auth.uid()') is not null,"
        " to_regclass('genvault_meta.migrations') is not null"
    ).fetchone()
    has_auth, has_meta = (bool(row[0]), bool(row[1])) if row else (False, False)
    plain = not has_auth
    if has_meta:
        found = conn.execute(
            "select exists (select from genvault_meta.migrations"
            " where name = 'supabase_compat.sql')"
        ).fetchone()
        plain = plain or bool(found and found[0])
    if plain:
        return GenvaultError(
            "genvault's SQL in this database is missing or older than this genvault",
            hint="apply it with `gen db migrate`",
        )
    return InvalidInput(
        "this database is a Supabase project: its users sign in with Supabase Auth",
        hint="use `gen login` with your email",
    )


def _unverified_claims(token: str) -> dict[str, Any]:
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise NotSignedIn(
            "the access token is malformed", hint="sign in again with `gen login`"
        ) from exc
    return claims
