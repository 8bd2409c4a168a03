"""A stand-in for a Supabase project's Auth, REST and Storage services, in memory.

It sits behind ``httpx.MockTransport`` and answers the requests supabase-py
sends, with the JSON shapes and errors the real services document. It is
strict about what it receives: a request that a correct client would not send
(no ``apikey``, a user call without the user's token, a wrong method, path,
query or body, an upload that is not multipart) is recorded in
:attr:`SupabaseDouble.violations` and raised as :class:`ProtocolViolation`.
Requests the real services would refuse (a wrong password, an expired token, a
file outside the caller's folder) are answered with the services' own errors.

REST is not modelled: ``POST /rest/v1/rpc/<fn>`` runs the real SQL function in
a real PostgreSQL as PostgREST does. The double verifies the Bearer token as
PostgREST does (the project's ES256 signing keys, or the legacy HS256 JWT secret;
30 seconds of clock skew; 12.x or 13.x error codes, see ``postgrest_version``),
then, in one transaction, sets ``role`` and
``request.jwt.claims`` (both transaction-local) and calls ``public.<fn>`` with
the JSON body's keys as named arguments, so row level security decides. A call
with the public key and no user's token runs as ``anon`` (a visitor); one to a
function that anon may not execute is recorded as a violation, since a correct
client sends the user's token there. A set-returning function's answer is cut
at ``max_rows`` (PostgREST's db-max-rows, read from ``supabase/config.toml``)
without a word, as PostgREST cuts it.

Auth keeps users, sessions and refresh tokens in memory, and rotates refresh
tokens by GoTrue's rules: the parent of a session's active token gets the active
one back, any other used token only within the reuse interval, and a reuse after
it revokes the whole session. Email codes land in :attr:`SupabaseDouble.outbox`.
Access tokens are signed with an ES256 key (with a ``kid``) whose public half is
published at ``/auth/v1/.well-known/jwks.json``; :meth:`SupabaseDouble.rotate_signing_key`
rotates it, as a project's operator can. Storage's objects are rows of
``storage.objects`` in the same database (the local layer
of ``database/supabase_compat.sql``), and each upload, download, list, signed
URL and delete is the statement Storage runs, as the caller, so the policies
of ``database/storage.sql`` and ``database/storage_sharing.sql`` decide. Only
the bytes are kept by the double, in files of its own. Errors come back in
Storage's current shape (HTTP 400 with the error's own status in the body).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import string
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import quote

import httpx
import jwt
import psycopg
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = [
    "PUBLIC_KEY",
    "SECRET_KEY",
    "AuthUser",
    "ProtocolViolation",
    "StoredFile",
    "SupabaseDouble",
    "configured_max_rows",
]

PUBLIC_KEY = "sb_publishable_double_0123456789abcdefghij"
SECRET_KEY = "sb_secret_double_0123456789abcdefghij"
API_VERSION = "2024-01-01"
AuthErrorStyle = Literal["current", "legacy", "oauth"]
PostgrestVersion = Literal[12, 13]
SigningAlgorithm = Literal["ES256", "HS256"]
REFRESH_TOKEN_REUSE_INTERVAL = 10.0
"""Seconds a used refresh token may still be used again (Supabase's default)."""
JWT_CLOCK_SKEW = 30
"""Seconds of clock skew PostgREST allows on exp, nbf and iat."""

_INVALID_API_KEY = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}


class ProtocolViolation(AssertionError):
    """A request that the real service would not expect from a correct client."""


@dataclass
class AuthUser:
    """A user of the double's Auth."""

    id: str
    email: str
    password: str | None
    created_at: str


@dataclass
class StoredFile:
    """A file in the double's Storage."""

    data: bytes
    content_type: str
    cache_control: str
    id: str
    created_at: str
    updated_at: str


@dataclass
class _AuthSession:
    user_id: str
    method: str
    revoked: bool = False


@dataclass
class _RefreshToken:
    """One refresh token, as GoTrue keeps it (its v1 tokens: 12 characters)."""

    id: int
    token: str
    session_id: str
    parent: str | None
    revoked: bool = False
    updated_at: float = 0.0
    """When it was issued or last revoked: the reuse interval counts from here."""


@dataclass
class _SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    published: bool = True
    """In the JWKS (and trusted by PostgREST); False once the key is revoked."""


class _TokenRefused(Exception):
    """An access token PostgREST or Auth would refuse; ``kind`` says why."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# Why PostgREST refuses a token: (12.x message, 13.x code, 13.x message); 12.x
# answers PGRST301 for all of them.
_JWT_REFUSALS: Mapping[str, tuple[str, str, str]] = {
    "expired": ("JWT expired", "PGRST303", "JWT expired"),
    "not_yet_valid": ("JWTNotYetValid", "PGRST303", "JWT not yet valid"),
    "issued_in_future": ("JWTIssuedAtFuture", "PGRST303", "JWT issued at future"),
    "no_key": ("JWSError NoUsableKeys", "PGRST301", "No suitable key or wrong key type"),
    "bad_algorithm": (
        "JWSError (AlgorithmMismatch)",
        "PGRST301",
        "Wrong or unsupported encoding algorithm",
    ),
    "bad_signature": (
        "JWSError JWSInvalidSignature",
        "PGRST301",
        "JWT cryptographic operation failed",
    ),
}
_REFRESH_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class _Function:
    names: tuple[str, ...]
    types: Mapping[str, str]
    required: frozenset[str]
    returns: Literal["rows", "values", "object", "value", "void"]
    oid: int
    volatility: str
    """pg_proc.provolatile: i(mmutable), s(table) or v(olatile)."""


def configured_max_rows() -> int:
    """``max_rows`` in [api] of ``supabase/config.toml``: where the project's PostgREST cuts."""
    with (Path(__file__).resolve().parents[2] / "supabase" / "config.toml").open("rb") as f:
        return int(tomllib.load(f)["api"]["max_rows"])


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=dict(headers or {}))


class SupabaseDouble:
    """One Supabase project: its URL, keys, Auth users, Storage buckets and database.

    ``database_url`` is a migrated genvault database (needed for /rest only).
    ``auth_errors`` picks how Auth shapes its errors: ``current`` follows the
    request's X-Supabase-Api-Version (``{"code", "message"}`` from 2024-01-01),
    ``legacy`` is the older ``{"code": 400, "error_code", "msg"}``, ``oauth``
    the OAuth-style ``{"error", "error_description"}`` of token grants.
    ``postgrest_version`` picks PostgREST's token error codes: 13 answers an
    expired token with PGRST303 and an unknown role with HTTP 401, 12 with
    PGRST301 and HTTP 400. ``signing`` is how Auth signs access tokens: ES256
    with a published key (the default for projects), or HS256 with the legacy
    ``jwt_secret``, which PostgREST accepts either way.
    """

    def __init__(
        self,
        *,
        jwt_secret: str,
        database_url: str | None = None,
        url: str = "https://double-ref.supabase.test",
        public_key: str = PUBLIC_KEY,
        service_key: str = SECRET_KEY,
        access_ttl: int = 3600,
        auth_errors: AuthErrorStyle = "current",
        postgrest_version: PostgrestVersion = 13,
        signing: SigningAlgorithm = "ES256",
        refresh_reuse_interval: float = REFRESH_TOKEN_REUSE_INTERVAL,
        max_rows: int | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.host = httpx.URL(self.url).host
        self.public_key = public_key
        self.service_key = service_key
        self.jwt_secret = jwt_secret
        self.database_url = database_url
        self.access_ttl = access_ttl
        self.auth_errors: AuthErrorStyle = auth_errors
        self.max_rows = configured_max_rows() if max_rows is None else max_rows
        """PostgREST's db-max-rows: the most rows one call of a set-returning function answers."""
        self.offline = False
        """When true, every request fails as if the network were down."""
        self.requests: list[httpx.Request] = []
        self._serial = threading.RLock()
        self.violations: list[str] = []
        self.users: dict[str, AuthUser] = {}
        self.outbox: dict[str, str] = {}
        """The last one-time code sent to each email address."""
        # Storage's bytes, one file per object id; kept across close() (a closed
        # double opens its connection again when called) and removed with the double.
        self._blob_dir = tempfile.TemporaryDirectory(prefix="supabase-double-")
        self._blobs = Path(self._blob_dir.name)
        self._sessions: dict[str, _AuthSession] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._db: psycopg.Connection[dict[str, Any]] | None = None
        self._init_tokens(postgrest_version, signing, refresh_reuse_interval)
        self._role_settings: dict[str, dict[str, str]] | None = None

    # -- wiring ------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """An httpx transport that sends every request to this double."""
        return httpx.MockTransport(self.handle)

    def close(self) -> None:
        """Close the database connection, if one was opened."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- Auth state, for tests -----------------------------------------------
    def add_user(self, email: str, password: str | None, *, user_id: str | None = None) -> AuthUser:
        """Sign up a user (in auth.users too, when the double has a database)."""
        user = AuthUser(user_id or str(uuid.uuid4()), email.lower(), password, _now_iso())
        self.users[user.id] = user
        if self.database_url is not None:
            self._connection().execute(
                "insert into auth.users (id, email) values (%s, %s) on conflict (id) do nothing",
                (user.id, user.email),
            )
        return user

    def mint_access_token(
        self,
        user_id: str,
        *,
        ttl: int | None = None,
        session_id: str | None = None,
        secret: str | None = None,
        method: str = "password",
        kid: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """An access token as Auth issues them.

        ``secret`` signs it HS256 with that secret (the legacy JWT secret, or
        another to forge one); ``kid`` with that ES256 key of the project;
        ``extra`` adds or replaces claims.
        """
        user = self.users.get(user_id)
        now = int(self.now())
        claims = {
            "iss": f"{self.url}/auth/v1",
            "sub": user_id,
            "aud": "authenticated",
            "exp": now + (self.access_ttl if ttl is None else ttl),
            "iat": now,
            "email": user.email if user else "",
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": method, "timestamp": now}],
            "session_id": session_id or str(uuid.uuid4()),
            "is_anonymous": False,
            **(extra or {}),
        }
        if secret is not None or (self.signing == "HS256" and kid is None):
            return jwt.encode(claims, secret or self.jwt_secret, algorithm="HS256")
        key = self._signing_keys[kid or self.active_kid]
        return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid})

    # -- tokens: clock, signing keys and refresh tokens, for tests --------------
    def _init_tokens(
        self, postgrest_version: PostgrestVersion, signing: SigningAlgorithm, reuse: float
    ) -> None:
        self.postgrest_version: PostgrestVersion = postgrest_version
        self.signing: SigningAlgorithm = signing
        self.refresh_reuse_interval = reuse
        self.clock_offset = 0.0
        """Seconds added to the real time: :meth:`advance` moves the double's clock."""
        self._signing_keys: dict[str, _SigningKey] = {}
        self.active_kid = ""
        self._token_ids = itertools.count(1)
        self.rotate_signing_key()

    def now(self) -> float:
        """The double's time (seconds since the epoch)."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the double's clock forward, for its token checks and refresh rules."""
        self.clock_offset += seconds

    def rotate_signing_key(self) -> str:
        """Make a new ES256 key the signing key; the previous ones stay published."""
        kid = str(uuid.uuid4())
        self._signing_keys[kid] = _SigningKey(kid, ec.generate_private_key(ec.SECP256R1()))
        self.active_kid = kid
        return kid

    def revoke_signing_key(self, kid: str) -> None:
        """Withdraw a key: it leaves the JWKS, and tokens it signed are refused."""
        self._signing_keys[kid].published = False

    def jwks(self) -> dict[str, Any]:
        """The JWKS document Auth publishes: the public halves of the published keys."""
        keys = []
        for key in self._signing_keys.values():
            if not key.published:
                continue
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.private.public_key()))
            keys.append(
                {**jwk, "kid": key.kid, "alg": "ES256", "use": "sig", "key_ops": ["verify"]}
            )
        return {"keys": keys}

    def refresh_token_is_active(self, token: str) -> bool:
        """Whether ``token`` is its session's current, unused refresh token."""
        entry = self._refresh_tokens.get(token)
        return (
            entry is not None and not entry.revoked and not self._sessions[entry.session_id].revoked
        )

    def refresh_token_is_valid(self, token: str) -> bool:
        """Whether Auth would accept ``token`` for a refresh now (without using it)."""
        entry = self._refresh_tokens.get(token)
        if entry is None or self._sessions[entry.session_id].revoked:
            return False
        return not entry.revoked or self._reusable(entry)

    def refresh_token_parent(self, token: str) -> str | None:
        """The refresh token ``token`` was issued in exchange for (None for a sign-in)."""
        return self._refresh_tokens[token].parent

    def _reusable(self, entry: _RefreshToken) -> bool:
        """GoTrue's rule for a used token: the parent of the session's active token
        always gets the active one back; any other only within the reuse interval."""
        active = self._active_refresh_token(entry.session_id)
        if active is not None and active.parent == entry.token:
            return True
        return self.now() <= entry.updated_at + self.refresh_reuse_interval

    def _active_refresh_token(self, session_id: str) -> _RefreshToken | None:
        """The session's newest unrevoked refresh token."""
        live = [
            t for t in self._refresh_tokens.values() if t.session_id == session_id and not t.revoked
        ]
        return max(live, key=lambda t: t.id, default=None)

    def _issue_refresh_token(self, session_id: str, parent: _RefreshToken | None) -> str:
        token = "".join(secrets.choice(_REFRESH_TOKEN_ALPHABET) for _ in range(12))
        self._refresh_tokens[token] = _RefreshToken(
            next(self._token_ids),
            token,
            session_id,
            parent.token if parent else None,
            updated_at=self.now(),
        )
        return token

    def _decode_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a token PostgREST would accept; raises _TokenRefused.

        HS256 tokens are checked with the legacy JWT secret, ES256 ones with the
        published key their ``kid`` names; exp, nbf and iat with 30 s of skew.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise _TokenRefused("bad_signature") from exc
        alg = header.get("alg")
        key: Any
        if alg == "HS256":
            key = self.jwt_secret
        elif alg == "ES256":
            found = self._signing_keys.get(str(header.get("kid")))
            if found is None or not found.published:
                raise _TokenRefused("no_key")
            key = found.private.public_key()
        else:
            raise _TokenRefused("bad_algorithm")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise _TokenRefused("bad_signature") from exc
        now = self.now()
        for claim, kind, too_early in (
            ("exp", "expired", False),
            ("nbf", "not_yet_valid", True),
            ("iat", "issued_in_future", True),
        ):
            value = claims.get(claim)
            if not isinstance(value, int | float):
                continue
            if (too_early and now < value - JWT_CLOCK_SKEW) or (
                not too_early and now > value + JWT_CLOCK_SKEW
            ):
                raise _TokenRefused(kind)
        return claims

    def _rest_token_refusal(self, kind: str) -> httpx.Response:
        """PostgREST's 401 for a refused token, in the configured version's codes."""
        legacy_message, code, message = _JWT_REFUSALS[kind]
        headers = {}
        if self.postgrest_version == 12:
            code, message = "PGRST301", legacy_message
        else:
            headers["Proxy-Status"] = f"PostgREST; error={code}"
        headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{message}"'
        return _json(
            401, {"code": code, "details": None, "hint": None, "message": message}, headers
        )

    def _role_refusal(self, role: str) -> httpx.Response | None:
        """PostgREST's answer when the token's role cannot be taken, else None.

        The authenticator switches to the token's role first thing in the
        transaction: a role that does not exist fails with SQLSTATE 22023 (HTTP
        401 since PostgREST 13.0.1, 400 before); one it is not a member of, with
        42501. Supabase's authenticator may become anon, authenticated and
        service_role only.
        """
        if role in ("anon", "authenticated", "service_role"):
            return None
        conn = self._connection()
        exists = conn.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (role,))
        if exists.fetchone() is not None:
            body = {
                "code": "42501",
                "details": None,
                "hint": None,
                "message": f'permission denied to set role "{role}"',
            }
            return _json(403, body)
        try:
            with conn.transaction():
                conn.execute("select set_config('role', %s, true)", (role,))
        except psycopg.Error as exc:
            status = 401 if self.postgrest_version == 13 else 400
            body = {
                "code": exc.sqlstate,
                "details": None,
                "hint": None,
                "message": exc.diag.message_primary,
            }
            return _json(status, body)
        raise AssertionError(f"role {role!r} was missing, yet could be set")

    def _jwks_reply(self, request: httpx.Request) -> httpx.Response:
        """GET /auth/v1/.well-known/jwks.json: public, cacheable for 10 minutes."""
        self._expect(request, "GET")
        self._expect_query(request, set())
        key = request.headers.get("apikey")
        if key is not None and key not in (self.public_key, self.service_key):
            return _json(401, _INVALID_API_KEY)
        if request.headers.get("authorization") not in (None, f"Bearer {self.public_key}"):
            self._violate(request, "the signing keys are public: send no user's token for them")
        return _json(200, self.jwks(), {"Cache-Control": "public, max-age=600"})

    # -- dispatch ------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the matching Supabase service would.

        One request at a time: the double keeps one database connection and
        in-memory state, and clients may call it from several threads.
        """
        with self._serial:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.offline:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.host != self.host or request.url.scheme != "https":
            self._violate(request, f"not this project's URL ({self.url})")
        path = request.url.path
        for prefix, handler in (
            ("/auth/v1/", self._auth),
            ("/rest/v1/", self._rest),
            ("/storage/v1/", self._storage),
        ):
            if path.startswith(prefix):
                return handler(request, path[len(prefix) :])
        self._violate(request, "no Supabase service is served at this path")

    def _violate(self, request: httpx.Request, message: str) -> NoReturn:
        text = f"{request.method} {request.url}: {message}"
        self.violations.append(text)
        raise ProtocolViolation(text)

    def _json_body(self, request: httpx.Request) -> dict[str, Any]:
        if not request.headers.get("content-type", "").startswith("application/json"):
            self._violate(request, "the body must be sent as application/json")
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            self._violate(request, "the body is not valid JSON")
        if not isinstance(body, dict):
            self._violate(request, "the body must be a JSON object")
        return body

    def _expect(self, request: httpx.Request, method: str) -> None:
        if request.method != method:
            self._violate(request, f"expected {method}")

    def _expect_query(self, request: httpx.Request, allowed: set[str]) -> dict[str, str]:
        query = dict(request.url.params.multi_items())
        if len(query) != len(request.url.params.multi_items()) or set(query) - allowed:
            self._violate(request, f"unexpected query parameters (allowed: {sorted(allowed)})")
        return query

    # -- Auth (GoTrue) ---------------------------------------------------------
    def _auth(self, request: httpx.Request, route: str) -> httpx.Response:
        if route == ".well-known/jwks.json":
            return self._jwks_reply(request)
        if request.headers.get("apikey") != self.public_key:
            self._violate(request, "Auth requests carry the project's public key as apikey")
        if route == "token":
            self._expect(request, "POST")
            self._expect_no_user_token(request)
            grant = self._expect_query(request, {"grant_type"}).get("grant_type")
            body = self._json_body(request)
            if grant == "password":
                return self._password_grant(request, body)
            if grant == "refresh_token":
                return self._refresh_grant(request, body)
            self._violate(request, f"unsupported grant_type {grant!r}")
        if route == "otp":
            self._expect(request, "POST")
            self._expect_no_user_token(request)
            self._expect_query(request, set())
            return self._otp(request, self._json_body(request))
        if route == "verify":
            self._expect(request, "POST")
            self._expect_no_user_token(request)
            self._expect_query(request, set())
            return self._verify(request, self._json_body(request))
        if route == "logout":
            self._expect(request, "POST")
            scope = self._expect_query(request, {"scope"}).get("scope", "global")
            if scope not in ("global", "local", "others"):
                self._violate(request, f"unknown logout scope {scope!r}")
            return self._logout(request, scope)
        if route == "user":
            self._expect(request, "GET")
            self._expect_query(request, set())
            found = self._auth_session(request)
            if isinstance(found, httpx.Response):
                return found
            return self._reply(request, 200, self._user_json(self.users[found[0]]))
        self._violate(request, f"no Auth endpoint {route!r}")

    def _expect_no_user_token(self, request: httpx.Request) -> None:
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"Bearer {self.public_key}":
            self._violate(request, "a sign-in request must not carry another session's token")

    def _reply(self, request: httpx.Request, status: int, body: Any) -> httpx.Response:
        headers = {}
        if self.auth_errors == "current" and self._versioned(request):
            headers["X-Supabase-Api-Version"] = API_VERSION
        if status == 204:
            return httpx.Response(204, headers=headers)
        return _json(status, body, headers)

    def _versioned(self, request: httpx.Request) -> bool:
        version: str = request.headers.get("X-Supabase-Api-Version", "")
        return version >= API_VERSION

    def _auth_error(
        self,
        request: httpx.Request,
        status: int,
        code: str,
        message: str,
        *,
        oauth_error: str | None = None,
    ) -> httpx.Response:
        if self.auth_errors == "oauth" and oauth_error:
            body: dict[str, Any] = {"error": oauth_error, "error_description": message}
        elif self.auth_errors == "current" and self._versioned(request):
            body = {"code": code, "message": message}
        else:
            body = {"code": status, "error_code": code, "msg": message}
        return self._reply(request, status, body)

    def _user_by_email(self, email: Any) -> AuthUser | None:
        if not isinstance(email, str):
            return None
        return next((u for u in self.users.values() if u.email == email.lower()), None)

    def _password_grant(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if not {"email", "password"} <= set(body):
            self._violate(request, "a password grant needs email and password")
        user = self._user_by_email(body["email"])
        if user is None or user.password is None or user.password != body["password"]:
            return self._auth_error(
                request,
                400,
                "invalid_credentials",
                "Invalid login credentials",
                oauth_error="invalid_grant",
            )
        return self._new_session(request, user, "password")

    def _refresh_grant(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        """GoTrue's refresh_token grant, with its rotation and reuse rules."""
        token = body.get("refresh_token")
        if not isinstance(token, str) or set(body) != {"refresh_token"}:
            self._violate(request, "a refresh grant sends exactly {refresh_token}")
        # 12 characters is a v1 token; longer ones must parse as v2 tokens, which
        # this Auth never issues.
        if len(token) != 12 or any(c not in _REFRESH_TOKEN_ALPHABET for c in token):
            return self._auth_error(
                request,
                400,
                "validation_failed",
                "Refresh token is not valid",
                oauth_error="invalid_grant",
            )
        entry = self._refresh_tokens.get(token)
        if entry is None or self._sessions[entry.session_id].revoked:
            return self._auth_error(
                request,
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
                oauth_error="invalid_grant",
            )
        issued: str | None = None
        if entry.revoked:
            active = self._active_refresh_token(entry.session_id)
            if active is not None and active.parent == entry.token:
                issued = active.token  # the client lost the answer: send it again
            elif not self._reusable(entry):
                # A reuse outside the interval: the whole session's tokens go.
                now = self.now()
                for other in self._refresh_tokens.values():
                    if other.session_id == entry.session_id and not other.revoked:
                        other.revoked, other.updated_at = True, now
                return self._auth_error(
                    request,
                    400,
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                    oauth_error="invalid_grant",
                )
        if issued is None:
            entry.revoked, entry.updated_at = True, self.now()
            issued = self._issue_refresh_token(entry.session_id, entry)
        user = self.users[self._sessions[entry.session_id].user_id]
        return self._session_reply(request, user, entry.session_id, issued)

    def _otp(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        email = body.get("email")
        if not isinstance(email, str) or not isinstance(body.get("create_user"), bool):
            self._violate(request, "an email OTP request sends email and create_user")
        user = self._user_by_email(email)
        if user is None:
            if not body["create_user"]:
                return self._auth_error(request, 422, "otp_disabled", "Signups not allowed for otp")
            user = self.add_user(email, None)
        self.outbox[user.email] = f"{secrets.randbelow(10**6):06d}"
        return self._reply(request, 200, {})

    def _verify(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if body.get("type") != "email" or not {"email", "token"} <= set(body):
            self._violate(request, "an email code is verified with type=email, email and token")
        user = self._user_by_email(body["email"])
        if user is None or self.outbox.get(user.email) != body["token"]:
            return self._auth_error(request, 403, "otp_expired", "Token has expired or is invalid")
        del self.outbox[user.email]
        return self._new_session(request, user, "otp")

    def _new_session(self, request: httpx.Request, user: AuthUser, method: str) -> httpx.Response:
        session_id = str(uuid.uuid4())
        self._sessions[session_id] = _AuthSession(user.id, method)
        refresh = self._issue_refresh_token(session_id, None)
        return self._session_reply(request, user, session_id, refresh)

    def _session_reply(
        self, request: httpx.Request, user: AuthUser, session_id: str, refresh: str
    ) -> httpx.Response:
        access = self.mint_access_token(
            user.id, session_id=session_id, method=self._sessions[session_id].method
        )
        return self._reply(
            request,
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.access_ttl,
                "expires_at": int(self.now()) + self.access_ttl,
                "refresh_token": refresh,
                "user": self._user_json(user),
            },
        )

    def _user_json(self, user: AuthUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": user.email,
            "email_confirmed_at": user.created_at,
            "phone": "",
            "confirmed_at": user.created_at,
            "last_sign_in_at": _now_iso(),
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "identities": [
                {
                    "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id)),
                    "id": user.id,
                    "user_id": user.id,
                    "identity_data": {"email": user.email, "sub": user.id},
                    "provider": "email",
                    "last_sign_in_at": user.created_at,
                    "created_at": user.created_at,
                    "updated_at": user.created_at,
                }
            ],
            "created_at": user.created_at,
            "updated_at": user.created_at,
            "is_anonymous": False,
        }

    def _auth_session(self, request: httpx.Request) -> tuple[str, str] | httpx.Response:
        """(user id, session id) of the request's token, or Auth's refusal."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth == f"Bearer {self.public_key}":
            self._violate(request, "this Auth endpoint needs the user's access token")
        try:
            claims = self._decode_access_token(auth[len("Bearer ") :])
        except _TokenRefused as exc:
            return self._auth_error(
                request,
                401,
                "bad_jwt",
                f"invalid JWT: unable to parse or verify signature, {exc.kind}",
            )
        if claims.get("aud") != "authenticated":
            return self._auth_error(request, 401, "bad_jwt", "invalid JWT: not in audience")
        session = self._sessions.get(str(claims.get("session_id")))
        if session is None or session.revoked:
            return self._auth_error(
                request,
                403,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            )
        return str(claims["sub"]), str(claims["session_id"])

    def _logout(self, request: httpx.Request, scope: str) -> httpx.Response:
        found = self._auth_session(request)
        if isinstance(found, httpx.Response):
            return found
        user_id, session_id = found
        for sid, session in self._sessions.items():
            if session.user_id != user_id:
                continue
            if (
                (scope == "local" and sid == session_id)
                or scope == "global"
                or (scope == "others" and sid != session_id)
            ):
                session.revoked = True
        return self._reply(request, 204, None)

    # -- who is calling: the API gateway, then PostgREST's or Storage's JWT check
    def _identity(
        self, request: httpx.Request, service: Literal["rest", "storage"]
    ) -> tuple[str, dict[str, Any]] | httpx.Response:
        apikey = request.headers.get("apikey")
        if apikey is None:
            self._violate(request, "every API request carries an apikey header")
        if apikey not in (self.public_key, self.service_key):
            return _json(401, _INVALID_API_KEY)
        auth = request.headers.get("authorization")
        if apikey == self.service_key and not self.service_key.startswith("eyJ"):
            if auth is not None:
                self._violate(request, "an sb_secret_ key goes in apikey only")
            return "service_role", {"role": "service_role"}
        # A visitor without an account: PostgREST runs the call as anon. With a
        # publishable key the gateway does so when no Authorization is sent; a
        # legacy anon key (a JWT) is sent as the Bearer token too.
        if service == "rest" and apikey == self.public_key:
            if auth is None and not self.public_key.startswith("eyJ"):
                return "anon", {"role": "anon"}
            if auth == f"Bearer {self.public_key}" and self.public_key.startswith("eyJ"):
                return "anon", {"role": "anon"}
        if auth is None or not auth.startswith("Bearer "):
            self._violate(request, "no Authorization: Bearer token, so this would run as anon")
        token = auth[len("Bearer ") :]
        if apikey == self.service_key and token != self.service_key:
            self._violate(request, "a legacy service key goes in Authorization too")
        if token.count(".") != 2 or token in (self.public_key,):
            self._violate(request, "the Bearer token is not a user's access token")
        try:
            claims = self._decode_access_token(token)
        except _TokenRefused as exc:
            if service == "rest":
                return self._rest_token_refusal(exc.kind)
            message = _JWT_EXPIRED if exc.kind == "expired" else _JWT_BAD_SIGNATURE
            return _access_denied(message).response
        role = claims.get("role", "anon")  # PostgREST's default role for a token without one
        if not isinstance(role, str) or not role:
            return self._jwt_refusal(
                service, "PGRST301", f"role {role!r} is not a name", "bad role"
            )
        if service == "storage" and role not in ("anon", "authenticated", "service_role"):
            return self._jwt_refusal(service, "PGRST301", "invalid role", "invalid role")
        if apikey == self.public_key and role in ("anon", "service_role"):
            self._violate(request, f"the Bearer token runs as {role}, not as a signed-in user")
        return str(role), claims

    def _jwt_refusal(
        self, service: str, code: str, message: str, storage_message: str
    ) -> httpx.Response:
        if service == "rest":
            challenge = f'Bearer error="invalid_token", error_description="{message}"'
            return _json(
                401,
                {"code": code, "details": None, "hint": None, "message": message},
                {"WWW-Authenticate": challenge},
            )
        return _access_denied(storage_message).response

    # -- REST (PostgREST) ------------------------------------------------------
    def _rest(self, request: httpx.Request, route: str) -> httpx.Response:
        if not route.startswith("rpc/"):
            self._violate(request, "genvault only calls functions, at /rest/v1/rpc/<fn>")
        self._expect(request, "POST")
        self._expect_query(request, set())
        for header in ("Accept-Profile", "Content-Profile"):
            if request.headers.get(header, "public") != "public":
                self._violate(request, f"{header} must name the public schema")
        identity = self._identity(request, "rest")
        if isinstance(identity, httpx.Response):
            return identity
        args = self._json_body(request)
        if self.database_url is None:
            self._violate(request, "this double was made without a database")
        if (refused := self._role_refusal(identity[0])) is not None:
            return refused
        fn = route[len("rpc/") :]
        if identity[0] == "anon" and not self._anon_may_call(fn, set(args)):
            self._violate(
                request, f"this runs as anon (no user's token), and anon may not call {fn}"
            )
        return self._call(fn, args, *identity)

    def _anon_may_call(self, fn: str, given: set[str]) -> bool:
        """Whether anon may execute the overload of ``public.<fn>`` these arguments call."""
        conn = self._connection()
        with conn.transaction():
            function = self._function(conn, fn, given)
            if function is None:
                return True  # PostgREST answers PGRST202 whoever calls
            row = conn.execute(
                "select has_function_privilege('anon', %s::oid, 'EXECUTE') as allowed",
                (function.oid,),
            ).fetchone()
        return bool(row and row["allowed"])

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._db is None:
            assert self.database_url is not None
            self._db = psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row)
        return self._db

    def _call(
        self, fn: str, args: dict[str, Any], role: str, claims: dict[str, Any]
    ) -> httpx.Response:
        conn = self._connection()
        try:
            # PostgREST knows each function from its schema cache before the
            # request's transaction starts, and opens it READ ONLY for a STABLE or
            # IMMUTABLE one (a POST to a VOLATILE one may write).
            with conn.transaction():
                function = self._function(conn, fn, set(args))
            if function is None:
                return _json(
                    404,
                    {
                        "code": "PGRST202",
                        "details": f"Searched for the function public.{fn} with parameters "
                        f"{', '.join(sorted(args))} or with a single unnamed json/jsonb "
                        "parameter, but no matches were found in the schema cache.",
                        "hint": None,
                        "message": f"Could not find the function public.{fn}"
                        f"({', '.join(sorted(args))}) in the schema cache",
                    },
                )
            with conn.transaction():
                if function.volatility in ("s", "i"):
                    conn.execute("set transaction read only")
                self._apply_role_settings(conn, role)
                conn.execute(
                    "select set_config('role', %s, true), "
                    "set_config('request.jwt.claims', %s, true), "
                    "set_config('TimeZone', 'UTC', true)",
                    (role, json.dumps(claims)),
                )
                row = conn.execute(
                    self._query(fn, function, list(args)), {"args": json.dumps(args)}
                ).fetchone()
        except psycopg.Error as exc:
            diag = exc.diag
            sqlstate = exc.sqlstate or "XX000"
            return _json(
                _postgrest_status(sqlstate, role),
                {
                    "code": sqlstate,
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                    "message": diag.message_primary or str(exc),
                },
            )
        if function.returns == "void":
            return httpx.Response(204)
        body = next(iter(row.values())) if row else None
        return httpx.Response(
            200,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def _apply_role_settings(self, conn: psycopg.Connection[dict[str, Any]], role: str) -> None:
        """Set the role's own settings (``alter role ... set``) for this transaction.

        SET ROLE does not apply them, so PostgREST reads every API role's settings
        that a user may change (statement_timeout, ...) when it loads its schema
        cache, and sets them in each request's transaction before the role.
        """
        if self._role_settings is None:
            rows = conn.execute(
                """
                select r.rolname as role, s.name, s.value
                  from pg_catalog.pg_roles r,
                       lateral (select split_part(c, '=', 1) as name,
                                       substr(c, strpos(c, '=') + 1) as value
                                  from unnest(r.rolconfig) as c) s
                  join pg_catalog.pg_settings p on p.name = s.name and p.context = 'user'
                 where r.rolname in ('anon', 'authenticated', 'service_role')
                """
            ).fetchall()
            self._role_settings = {}
            for r in rows:
                self._role_settings.setdefault(r["role"], {})[r["name"]] = r["value"]
        for name, value in self._role_settings.get(role, {}).items():
            conn.execute("select set_config(%s, %s, true)", (name, value))

    def _function(
        self, conn: psycopg.Connection[dict[str, Any]], fn: str, given: set[str]
    ) -> _Function | None:
        """The overload of ``public.<fn>`` these argument names can call, as PostgREST finds it."""
        rows = conn.execute(
            """
            select p.oid, p.proretset as retset, t.typtype as kind, t.typname as type_name,
                   p.provolatile as volatility,
                   coalesce(p.proargnames, array[]::text[]) as names,
                   coalesce(p.proargmodes::text[], array[]::text[]) as modes,
                   array(select pg_catalog.format_type(a.t, null)
                           from unnest(p.proargtypes::oid[]) with ordinality as a(t, i)
                          order by a.i) as in_types,
                   p.pronargs as nargs, p.pronargdefaults as ndefaults
              from pg_catalog.pg_proc p
              join pg_catalog.pg_namespace n on n.oid = p.pronamespace
              join pg_catalog.pg_type t on t.oid = p.prorettype
             where n.nspname = 'public' and p.proname = %s and p.prokind = 'f'
            """,
            (fn,),
        ).fetchall()
        for row in rows:
            if row["modes"]:
                names = [n for n, m in zip(row["names"], row["modes"], strict=True) if m in "ibv"]
            else:
                names = list(row["names"][: row["nargs"]])
            if len(names) != row["nargs"] or not all(names):
                continue
            required = frozenset(names[: row["nargs"] - row["ndefaults"]])
            if not given <= set(names) or not required <= given:
                continue
            # RETURNS TABLE (even of one column) answers objects, as PostgREST has
            # since 8.0.1; a bare RETURNS SETOF <scalar> answers bare values.
            composite = row["kind"] == "c" or row["type_name"] == "record" or "t" in row["modes"]
            returns: Literal["rows", "values", "object", "value", "void"]
            if row["retset"]:
                returns = "rows" if composite else "values"
            elif row["type_name"] == "void":
                returns = "void"
            else:
                returns = "object" if composite else "value"
            return _Function(
                tuple(names),
                dict(zip(names, row["in_types"], strict=True)),
                required,
                returns,
                int(row["oid"]),
                str(row["volatility"]),
            )
        return None

    def _query(self, fn: str, function: _Function, given: list[str]) -> sql.Composed:
        call = sql.SQL("public.{}({})").format(
            sql.Identifier(fn),
            sql.SQL(", ").join(
                sql.SQL("{} => _a.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in given
            ),
        )
        source = sql.SQL("json_to_record({}::json) as _a({})").format(
            sql.Placeholder("args"),
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(function.types[n]))
                for n in given
            ),
        )
        if not given:
            source = sql.SQL("(select {}::json) as _a").format(sql.Placeholder("args"))
        # A set is cut at db-max-rows without a word, as PostgREST does: the
        # function runs to the end, and only the first max_rows rows are sent.
        if function.returns == "rows":
            # Through a subquery, so that a one-column RETURNS TABLE is a record too.
            template = (
                "select coalesce(json_agg(_r), '[]'::json) from ("
                "select _r.* from {source}, lateral (select * from {call}) as _r limit {cap}"
                ") as _r"
            )
        elif function.returns == "values":
            template = (
                "select coalesce(json_agg(_r._v), '[]'::json) from ("
                "select _r._v from {source}, {call} as _r(_v) limit {cap}) as _r"
            )
        elif function.returns == "object":
            template = "select to_json(_r) from {source}, {call} as _r"
        elif function.returns == "void":
            template = "select {call} from {source}"
        else:
            template = "select to_json({call}) from {source}"
        return sql.SQL(template).format(source=source, call=call, cap=sql.Literal(self.max_rows))

    # -- Storage ---------------------------------------------------------------
    # Storage keeps its objects in the project's database and only the bytes
    # elsewhere: every read and write below is a statement on storage.objects run
    # as the caller (role and request.jwt.claims local to one transaction), so
    # the policies of database/storage.sql and storage_sharing.sql decide. The
    # bucket is looked up as Storage's own superuser, as Storage does.
    def _storage(self, request: httpx.Request, route: str) -> httpx.Response:
        parts = route.split("/")
        if parts[0] != "object" or len(parts) < 2:
            self._violate(request, "genvault only uses Storage's object endpoints")
        if self.database_url is None:
            self._violate(request, "this double was made without a database")
        try:
            if parts[1] == "sign" and request.method == "GET":
                return self._signed_download(request, parts[2], "/".join(parts[3:]))
            identity = self._identity(request, "storage")
            if isinstance(identity, httpx.Response):
                return identity
            return self._storage_route(request, parts, *identity)
        except _StorageRefusal as refusal:
            return refusal.response
        except psycopg.Error as exc:
            return _storage_db_error(exc).response

    def _storage_route(
        self, request: httpx.Request, parts: list[str], role: str, claims: dict[str, Any]
    ) -> httpx.Response:
        action = parts[1]
        if action == "list" and len(parts) == 3:
            self._expect(request, "POST")
            return self._list(request, parts[2], role, claims)
        if action == "sign" and len(parts) >= 4:
            self._expect(request, "POST")
            return self._sign(request, parts[2], "/".join(parts[3:]), role, claims)
        if action == "info":
            self._expect(request, "GET")
            rest = parts[3:] if parts[2] == "authenticated" else parts[2:]
            return self._download(request, rest[0], "/".join(rest[1:]), role, claims, info=True)
        if action == "authenticated":
            self._expect(request, "GET")
            return self._download(request, parts[2], "/".join(parts[3:]), role, claims)
        if len(parts) == 2:
            self._expect(request, "DELETE")
            return self._remove(request, parts[1], role, claims)
        name = "/".join(parts[2:])
        if request.method in ("POST", "PUT"):
            return self._upload(request, parts[1], name, role, claims)
        self._expect(request, "GET")
        return self._download(request, parts[1], name, role, claims)

    @contextmanager
    def _as_caller(
        self, role: str, claims: Mapping[str, Any]
    ) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """One transaction as the caller, set up as Storage sets up each request's."""
        conn = self._connection()
        with conn.transaction():
            conn.execute(
                "select set_config('role', %(role)s, true),"
                " set_config('request.jwt.claim.role', %(role)s, true),"
                " set_config('request.jwt.claim.sub', %(sub)s, true),"
                " set_config('request.jwt.claims', %(claims)s, true),"
                " set_config('storage.allow_delete_query', 'true', true)",
                {"role": role, "sub": str(claims.get("sub") or ""), "claims": json.dumps(claims)},
            )
            yield conn

    def _bucket(self, bucket: str) -> dict[str, Any]:
        """The bucket's row, read as Storage's superuser; NoSuchBucket when there is none."""
        conn = self._connection()
        with conn.transaction():
            row = conn.execute(
                "select id, public, file_size_limit, allowed_mime_types"
                "  from storage.buckets where id = %s",
                (bucket,),
            ).fetchone()
        if row is None:
            raise _StorageRefusal("404", "NoSuchBucket", "Bucket not found", "Bucket not found")
        return row

    def _blob(self, object_id: Any) -> Path:
        return self._blobs / str(object_id)

    @property
    def files(self) -> dict[tuple[str, str], StoredFile]:
        """Every object this double stored, by (bucket, name), read from storage.objects."""
        with self._serial:
            if self.database_url is None:
                return {}
            conn = self._connection()
            with conn.transaction():
                rows = conn.execute(
                    "select id, bucket_id, name, metadata, created_at, updated_at"
                    "  from storage.objects"
                ).fetchall()
            found = {}
            for row in rows:
                blob = self._blob(row["id"])
                if blob.exists():
                    found[(row["bucket_id"], row["name"])] = _stored_file(row, blob.read_bytes())
            return found

    def store_file(self, bucket: str, name: str, data: bytes, content_type: str) -> None:
        """Put a file in Storage as its superuser would (for tests that need many files)."""
        with self._serial, self._as_caller("service_role", {"role": "service_role"}) as conn:
            object_id = uuid.uuid4()
            conn.execute(
                "insert into storage.objects (id, bucket_id, name, metadata)"
                " values (%s, %s, %s, %s)",
                (object_id, bucket, name, Jsonb(_object_metadata(data, content_type, "3600"))),
            )
            self._blob(object_id).write_bytes(data)

    def _upload(
        self,
        request: httpx.Request,
        bucket: str,
        name: str,
        role: str,
        claims: dict[str, Any],
    ) -> httpx.Response:
        if not name or "" in name.split("/"):
            self._violate(request, "an object needs a name")
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            self._violate(request, "uploads are sent as multipart/form-data")
        form = self._multipart(request, content_type)
        if "file" not in form or "cacheControl" not in form:
            self._violate(request, "an upload sends the parts file and cacheControl")
        mime, data = form["file"]
        found = self._bucket(bucket)
        allowed = found["allowed_mime_types"]
        if allowed and not any(_mime_matches(mime, a) for a in allowed):
            raise _StorageRefusal(
                "415", "InvalidMimeType", f"mime type {mime} is not supported", "invalid_mime_type"
            )
        limit = found["file_size_limit"]
        if limit is not None and len(data) > limit:
            raise _StorageRefusal(
                "413",
                "EntityTooLarge",
                "The object exceeded the maximum allowed size",
                "Payload too large",
            )
        metadata = Jsonb(_object_metadata(data, mime, form["cacheControl"][1].decode()))
        owner = claims.get("sub")
        values = {
            "id": uuid.uuid4(),
            "bucket": bucket,
            "name": name,
            "owner": owner,
            "metadata": metadata,
        }
        upsert = request.headers.get("x-upsert") == "true"
        with self._as_caller(role, claims) as conn:
            if request.method == "PUT":
                row = conn.execute(
                    "update storage.objects"
                    "   set metadata = %(metadata)s,"
                    "       owner = %(owner)s::uuid, owner_id = %(owner)s::text"
                    " where bucket_id = %(bucket)s and name = %(name)s returning id",
                    values,
                ).fetchone()
                if row is None:
                    raise _no_such_key()
            elif upsert:
                row = conn.execute(
                    "insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata)"
                    " values (%(id)s, %(bucket)s, %(name)s,"
                    "         %(owner)s::uuid, %(owner)s::text, %(metadata)s)"
                    " on conflict (name, bucket_id) do update"
                    "   set metadata = excluded.metadata, owner = excluded.owner,"
                    "       owner_id = excluded.owner_id"
                    " returning id",
                    values,
                ).fetchone()
            else:
                try:
                    conn.execute(
                        "insert into storage.objects"
                        " (id, bucket_id, name, owner, owner_id, metadata)"
                        " values (%(id)s, %(bucket)s, %(name)s, %(owner)s::uuid, %(owner)s::text,"
                        " %(metadata)s)",
                        values,
                    )
                except psycopg.errors.UniqueViolation as exc:
                    raise _StorageRefusal(
                        "409", "KeyAlreadyExists", "The resource already exists", "Duplicate"
                    ) from exc
                row = {"id": values["id"]}
            assert row is not None
            # The bytes are written before the row commits: a failed write leaves no row.
            self._blob(row["id"]).write_bytes(data)
        return _json(200, {"Id": str(row["id"]), "Key": f"{bucket}/{name}"})

    def _multipart(self, request: httpx.Request, content_type: str) -> dict[str, tuple[str, bytes]]:
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content
        )
        if not message.is_multipart():
            self._violate(request, "the multipart body cannot be parsed")
        form: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                self._violate(request, "a multipart part without a name")
            form[name] = (part.get_content_type(), payload)
        return form

    def _find(self, bucket: str, name: str, role: str, claims: Mapping[str, Any]) -> dict[str, Any]:
        """The object as the caller may see it (Storage's findObject); NoSuchKey if not."""
        with self._as_caller(role, claims) as conn:
            row = conn.execute(
                "select id, bucket_id, name, metadata, created_at, updated_at"
                "  from storage.objects where name = %s and bucket_id = %s limit 1",
                (name, bucket),
            ).fetchone()
        if row is None or not self._blob(row["id"]).exists():
            raise _no_such_key()
        return row

    def _download(
        self,
        request: httpx.Request,
        bucket: str,
        name: str,
        role: str,
        claims: dict[str, Any],
        *,
        info: bool = False,
    ) -> httpx.Response:
        self._expect_query(request, set())
        self._bucket(bucket)
        row = self._find(bucket, name, role, claims)
        if info:
            return _json(200, _info(row))
        return _file_response(row, self._blob(row["id"]).read_bytes())

    def _remove(
        self, request: httpx.Request, bucket: str, role: str, claims: dict[str, Any]
    ) -> httpx.Response:
        body = self._json_body(request)
        prefixes = body.get("prefixes")
        if set(body) != {"prefixes"} or not isinstance(prefixes, list):
            self._violate(request, 'a delete sends {"prefixes": [...]}')
        if not all(isinstance(p, str) for p in prefixes):
            self._violate(request, "prefixes are object names")
        self._bucket(bucket)
        if not 1 <= len(prefixes) <= 1000:
            raise _StorageRefusal("400", "InvalidRequest", "prefixes must have 1 to 1000 items")
        with self._as_caller(role, claims) as conn:
            rows = conn.execute(
                "delete from storage.objects where bucket_id = %s and name = any (%s)"
                " returning id, bucket_id, name, metadata, created_at, updated_at",
                (bucket, prefixes),
            ).fetchall()
            for row in rows:
                self._blob(row["id"]).unlink(missing_ok=True)
        return _json(200, [_info(row) for row in rows])

    def _list(
        self, request: httpx.Request, bucket: str, role: str, claims: dict[str, Any]
    ) -> httpx.Response:
        body = self._json_body(request)
        if not {"prefix", "limit", "offset", "sortBy"} <= set(body):
            self._violate(request, "a list sends prefix, limit, offset and sortBy")
        limit, offset, sort = body["limit"], body["offset"], body["sortBy"]
        if not (isinstance(limit, int) and isinstance(offset, int) and isinstance(sort, dict)):
            self._violate(request, "limit and offset are numbers, sortBy an object")
        self._bucket(bucket)
        folder = str(body["prefix"]).strip("/")
        search = str(body.get("search") or "")
        pattern = (folder + "/" if folder else "") + search
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._as_caller(role, claims) as conn:
            rows = conn.execute(
                "select id, name, metadata, created_at, updated_at from storage.objects"
                " where bucket_id = %s and name like %s",
                (bucket, escaped + "%"),
            ).fetchall()
        entries: dict[str, dict[str, Any]] = {}
        for row in rows:
            rest = row["name"][len(folder) + 1 :] if folder else row["name"]
            child = rest.split("/", 1)[0]
            if "/" in rest:
                entries.setdefault(child, _folder_entry(child))
            else:
                entries[child] = _file_entry(child, row)
        ordered = sorted(entries.values(), key=lambda e: str(e.get(sort.get("column", "name"))))
        if sort.get("order") == "desc":
            ordered.reverse()
        return _json(200, ordered[offset : offset + limit])

    def _sign(
        self,
        request: httpx.Request,
        bucket: str,
        name: str,
        role: str,
        claims: dict[str, Any],
    ) -> httpx.Response:
        body = self._json_body(request)
        try:
            expires_in = int(body["expiresIn"])
        except (KeyError, TypeError, ValueError):
            self._violate(request, "a signed URL needs expiresIn")
        self._bucket(bucket)
        if expires_in < 1:
            raise _StorageRefusal("400", "InvalidRequest", "expiresIn must be at least 1")
        self._find(bucket, name, role, claims)
        now = int(time.time())
        token = jwt.encode(
            {"url": f"{bucket}/{name}", "scope": "download", "iat": now, "exp": now + expires_in},
            self.jwt_secret,
            algorithm="HS256",
        )
        return _json(200, {"signedURL": f"/object/sign/{bucket}/{quote(name)}?token={token}"})

    def _signed_download(self, request: httpx.Request, bucket: str, name: str) -> httpx.Response:
        token = self._expect_query(request, {"token", "download"}).get("token", "")
        try:
            claims = jwt.decode(token, self.jwt_secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError as exc:
            raise _StorageRefusal("400", "InvalidJWT", _JWT_EXPIRED) from exc
        except jwt.InvalidTokenError as exc:
            raise _StorageRefusal("400", "InvalidJWT", _JWT_BAD_SIGNATURE) from exc
        if claims.get("scope", "download") != "download" or "upsert" in claims:
            raise _StorageRefusal("400", "InvalidSignature", "Token is not scoped for download")
        if claims.get("url") != f"{bucket}/{name}":
            raise _StorageRefusal("400", "InvalidSignature", "Invalid signature")
        row = self._find(bucket, name, "service_role", {"role": "service_role"})
        return _file_response(row, self._blob(row["id"]).read_bytes())


_JWT_EXPIRED = '"exp" claim timestamp check failed'
"""What Storage says of an expired token (its JWT library's words)."""
_JWT_BAD_SIGNATURE = "signature verification failed"


class _StorageRefusal(Exception):
    """An error Storage answers with, in its current shape.

    The body carries the error's own status as a string (``statusCode``), its
    ``code``, the older ``error`` name and a ``message``; the HTTP status is 400
    for every error below 500 (Storage keeps 500, and a few errors their own).
    """

    def __init__(
        self,
        status: str,
        code: str,
        message: str,
        error: str | None = None,
        *,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        body = {"statusCode": status, "code": code, "error": error or code, "message": message}
        if http_status is None:
            http_status = 500 if status == "500" else 400
        self.response = _json(http_status, body)


def _no_such_key() -> _StorageRefusal:
    return _StorageRefusal("404", "NoSuchKey", "Object not found", "not_found")


def _access_denied(message: str) -> _StorageRefusal:
    return _StorageRefusal("403", "AccessDenied", message, "Unauthorized")


def _storage_db_error(exc: psycopg.Error) -> _StorageRefusal:
    """A database error as Storage renders it."""
    message = exc.diag.message_primary or str(exc)
    if exc.sqlstate == "42501":
        if "row-level security" in message:
            message = "new row violates row-level security policy"
        return _access_denied(message)
    if exc.sqlstate == "57014":
        return _StorageRefusal(
            "544",
            "DatabaseTimeout",
            "The connection to the database timed out",
            http_status=544,
        )
    return _StorageRefusal("500", "DatabaseError", f"database error, code: {exc.sqlstate}")


def _mime_matches(mime: str, allowed: str) -> bool:
    if allowed.endswith("/*"):
        return mime.startswith(allowed[:-1])
    return mime == allowed


def _object_metadata(data: bytes, mime: str, cache_control: str) -> dict[str, Any]:
    """The metadata Storage keeps on storage.objects for a stored file."""
    return {
        "eTag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
        "size": len(data),
        "mimetype": mime,
        "cacheControl": f"max-age={cache_control}",
        "lastModified": _now_iso(),
        "contentLength": len(data),
        "httpStatusCode": 200,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stored_file(row: Mapping[str, Any], data: bytes) -> StoredFile:
    meta = row["metadata"] or {}
    return StoredFile(
        data=data,
        content_type=str(meta.get("mimetype", "")),
        cache_control=str(meta.get("cacheControl", "")).removeprefix("max-age="),
        id=str(row["id"]),
        created_at=_iso(row["created_at"]),
        updated_at=_iso(row["updated_at"]),
    )


def _info(row: Mapping[str, Any]) -> dict[str, Any]:
    meta = row["metadata"] or {}
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "bucket_id": row["bucket_id"],
        "size": meta.get("size"),
        "content_type": meta.get("mimetype"),
        "cache_control": meta.get("cacheControl"),
        "etag": meta.get("eTag"),
        "metadata": {},
        "last_modified": _iso(row["updated_at"]),
        "created_at": _iso(row["created_at"]),
    }


def _file_response(row: Mapping[str, Any], data: bytes) -> httpx.Response:
    meta = row["metadata"] or {}
    return httpx.Response(
        200, content=data, headers={"Content-Type": str(meta.get("mimetype", ""))}
    )


def _folder_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": None,
        "updated_at": None,
        "created_at": None,
        "last_accessed_at": None,
        "metadata": None,
    }


def _file_entry(name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "id": str(row["id"]),
        "updated_at": _iso(row["updated_at"]),
        "created_at": _iso(row["created_at"]),
        "last_accessed_at": _iso(row["updated_at"]),
        "metadata": row["metadata"],
    }


def _postgrest_status(sqlstate: str, role: str) -> int:
    """The HTTP status PostgREST answers a SQLSTATE with (its documented table)."""
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "P0001": 400,
        "P0002": 404,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    by_class = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return by_class.get(sqlstate[:2], 400)
