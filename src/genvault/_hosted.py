"""A hosted Supabase project, reached over HTTP: data, files and sign-in.

Three services stand behind one project URL, and genvault talks to each through
supabase-py's own clients:

* PostgREST (``/rest/v1``) runs genvault's SQL functions as the signed-in user;
* Storage (``/storage/v1``) keeps the image files in a private bucket;
* Auth (``/auth/v1``) signs users in and refreshes their sessions.

Every request carries the project's public key as ``apikey`` and the user's own
access token as ``Authorization: Bearer``. The token is given explicitly to each
object here and set on each request, rather than left to the shared client's
default headers: without it a request silently runs as ``anon``, and with the
wrong one it runs as somebody else.

All three services share one ``httpx.Client``, passed in through
``ClientOptions(httpx_client=...)``. supabase 2.34 hands that client to its
PostgREST, Storage, Auth and Functions clients alike (Realtime uses websockets
and sends nothing until a channel is opened), and the objects below reuse it,
so a caller (or a test) that supplies the client sees every request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, cast

import httpx
import supabase
from postgrest import APIError, SyncPostgrestClient
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError
from supabase_auth.types import Session as AuthSession

from genvault import _validate
from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    GenvaultError,
    NotFound,
    NotSignedIn,
    SessionExpired,
    StorageFailed,
    TimedOut,
    error_from_code,
)
from genvault._session import Session, SessionStore
from genvault._settings import Settings
from genvault._storage import StoredObject, check_path

__all__ = ["HostedAuth", "HostedTransport", "SupabaseStorage", "make_supabase_client"]

_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_FUNCTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SIGN_IN_AGAIN = "sign in again with `gen login`"
# Storage refuses to delete more than 1,000 objects in one request.
_DELETE_BATCH = 1000
# What Storage says of an expired access token (its JWT library's words; older
# Storage versions said "jwt expired"), and of a token it cannot accept at all.
_STORAGE_EXPIRED = re.compile(r'"exp" claim timestamp check failed|jwt expired|token has expired')
_STORAGE_BAD_TOKEN = re.compile(r"jwt|jws|signature|claim")


def make_supabase_client(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    key: str | None = None,
) -> supabase.Client:
    """A sync Supabase client for the configured project.

    ``key`` defaults to the public (anon or publishable) key; operator code
    passes the service key instead. Sessions are neither kept nor refreshed by
    the client itself: :class:`HostedAuth` owns the session, in its own file.
    ``http_client`` carries every request of every service (one connection pool,
    and the way tests put a double behind the client).
    """
    if not settings.supabase_url:
        raise ConfigError(
            "SUPABASE_URL is not set",
            hint="set SUPABASE_URL to the project's URL, https://<ref>.supabase.co",
        )
    api_key = key if key is not None else settings.supabase_key
    if not api_key:
        raise ConfigError(
            "SUPABASE_ANON_KEY is missing",
            hint="set it (or SUPABASE_PUBLISHABLE_KEY) to the project's public API key",
        )
    if key is None and _key_role(api_key) == "service_role":
        raise ConfigError(
            "SUPABASE_ANON_KEY holds a secret (service role) key",
            hint="use the anon or sb_publishable_ key there; the secret key bypasses "
            "row level security and belongs only in SUPABASE_SERVICE_ROLE_KEY",
        )
    options = supabase.ClientOptions(
        httpx_client=http_client or httpx.Client(timeout=_TIMEOUT),
        auto_refresh_token=False,
        persist_session=False,
        flow_type="implicit",
    )
    return supabase.create_client(settings.supabase_url, api_key, options=options)


class HostedTransport:
    """Calls genvault's SQL functions through PostgREST's ``/rest/v1/rpc/<fn>``.

    Each request carries the user's access token, so PostgREST runs the function
    as that user and row level security decides what it sees, exactly as on a
    direct connection. Without a token (``None``, see :meth:`anonymous`) the
    calls run as ``anon``, as a visitor's do.
    """

    def __init__(self, client: supabase.Client, access_token: str | None) -> None:
        auth = (
            _anon_headers(client) if access_token is None else _auth_headers(client, access_token)
        )
        self._rest = SyncPostgrestClient(
            str(client.rest_url),
            schema=client.options.schema,
            headers={"Accept": "application/json", "Content-Type": "application/json", **auth},
            http_client=_http_client(client),
        )
        self._where = str(client.supabase_url)

    @classmethod
    def service(cls, client: supabase.Client) -> HostedTransport:
        """The operator's transport, for a client made with the service key.

        A legacy service_role key is a JWT and goes in ``Authorization`` too; a
        new ``sb_secret_`` key is not a JWT and is sent as ``apikey`` only.
        """
        _require_service_key(client)
        return cls(client, client.supabase_key)

    @classmethod
    def anonymous(cls, client: supabase.Client) -> HostedTransport:
        """A visitor's transport (no account): the project's public key only."""
        return cls(client, None)

    def rpc(self, fn: str, args: Mapping[str, Any], *, scalar: bool = False) -> Any:
        """Call ``public.<fn>`` with named ``args``, as the Transport protocol says."""
        if not _FUNCTION_NAME.match(fn):
            raise ValueError(f"not a function name: {fn!r}")
        _validate.call_arguments(fn, args)
        body = {name: _json_value(value) for name, value in args.items()}
        try:
            # postgrest annotates params as dict[str, str]; it JSON-encodes any value.
            response = self._rest.rpc(fn, cast("dict[str, str]", body)).execute()
        except APIError as exc:
            raise _rest_error(exc) from exc
        except httpx.RequestError as exc:
            raise _unreachable(self._where, exc) from exc
        data = response.data
        if scalar:
            return data
        return _rows(fn, data)


class SupabaseStorage:
    """Image files in a private Supabase Storage bucket, named by generation id.

    Paths are ``<user_id>/<generation_id><suffix>``; the bucket's policies let
    a user read and write only under their own id, and Storage enforces them
    with the access token sent on every request.
    """

    kind = "supabase"

    def __init__(
        self,
        client: supabase.Client,
        access_token: str,
        bucket: str,
        *,
        list_page_size: int = 1000,
    ) -> None:
        if list_page_size < 1:
            raise ValueError("list_page_size must be at least 1")
        self._storage_url = str(client.storage_url)
        self._where = str(client.supabase_url)
        self._bucket = bucket
        self._page = list_page_size
        storage = SyncStorageClient(
            url=self._storage_url,
            headers=_auth_headers(client, access_token),
            http_client=_http_client(client),
        )
        self._files = storage.from_(bucket)

    @classmethod
    def service(cls, client: supabase.Client, bucket: str) -> SupabaseStorage:
        """The operator's storage, for a client made with the service key."""
        _require_service_key(client)
        return cls(client, client.supabase_key, bucket)

    def key_for(self, user_id: str, generation_id: str, data: bytes, suffix: str) -> str:
        return f"{user_id}/{generation_id}{suffix}"

    def put(self, path: str, data: bytes, content_type: str) -> None:
        check_path(path)
        if not content_type:
            raise ValueError("a content type is required (storage3 would send text/plain)")
        try:
            self._files.upload(path, data, {"content-type": content_type, "x-upsert": "true"})
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "store", path) from exc

    def get(self, path: str) -> bytes:
        check_path(path)
        try:
            return self._files.download(path)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "read", path) from exc

    def exists(self, path: str) -> bool:
        check_path(path)
        try:
            return self._files.exists(path)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "look up", path) from exc

    def delete(self, paths: Iterable[str]) -> None:
        wanted = list(paths)
        for path in wanted:
            check_path(path)
        for start in range(0, len(wanted), _DELETE_BATCH):
            batch = wanted[start : start + _DELETE_BATCH]
            try:
                self._files.remove(batch)
            except (StorageException, httpx.RequestError) as exc:
                raise self._error(exc, "delete", batch[0]) from exc

    def list(self, prefix: str) -> list[StoredObject]:
        folder = check_path(f"{prefix}/x")[0]
        found: list[StoredObject] = []
        offset = 0
        while True:
            try:
                page = self._files.list(
                    folder,
                    {
                        "limit": self._page,
                        "offset": offset,
                        "sortBy": {"column": "name", "order": "asc"},
                    },
                )
            except (StorageException, httpx.RequestError) as exc:
                raise self._error(exc, "list", folder) from exc
            for entry in page:
                if entry.get("id") is None:  # a sub-folder, not a file
                    continue
                meta = entry.get("metadata") or {}
                found.append(
                    StoredObject(
                        f"{folder}/{entry['name']}",
                        int(meta.get("size") or 0),
                        _epoch(entry.get("updated_at") or meta.get("lastModified")),
                    )
                )
            if len(page) < self._page:
                return found
            offset += self._page

    def url(self, path: str, *, expires_in: int = 3600) -> str:
        check_path(path)
        if expires_in < 1:
            raise ValueError("expires_in must be at least one second")
        try:
            signed = self._files.create_signed_url(path, expires_in)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "sign a URL for", path) from exc
        value = signed.get("signedURL") or signed.get("signedUrl")
        if not value:
            raise StorageFailed(f"Storage returned no signed URL for {path}")
        if value.startswith(("https://", "http://")):
            return value
        # Storage answers with a path under /storage/v1 ("/object/sign/...").
        return self._storage_url.rstrip("/") + "/" + value.lstrip("/")

    def _error(self, exc: Exception, action: str, path: str) -> GenvaultError:
        if isinstance(exc, httpx.RequestError):
            return _unreachable(self._where, exc)
        if not isinstance(exc, StorageApiError):
            return StorageFailed(f"could not {action} {path}: {exc}")
        # Storage answers HTTP 400 for most errors; what happened is in the body:
        # statusCode (a string), error (an older name) and message.
        status, message = str(exc.status), exc.message
        lowered = message.lower()
        if _STORAGE_EXPIRED.search(lowered):
            return SessionExpired(f"Storage refused the expired session: {message}", code=status)
        if status == "401" or _STORAGE_BAD_TOKEN.search(lowered):
            return NotSignedIn(f"Storage refused the access token: {message}", code=status)
        if status == "544" or exc.code == "DatabaseTimeout":
            return TimedOut(
                f"Storage's database took too long to {action} {path}: {message}", code=status
            )
        if "bucket not found" in lowered:
            return StorageFailed(
                f"the storage bucket {self._bucket!r} does not exist",
                hint="create it with database/storage.sql, or set GENVAULT_BUCKET",
                code=status,
            )
        if status == "404" or exc.code in ("not_found", "NoSuchKey"):
            return NotFound(f"the stored image {path} is missing", code=status)
        if status == "403" or "row-level security" in lowered:
            return StorageFailed(
                f"Storage refused to {action} {path}: {message}",
                hint="files can only go in the folder named after your own user id, "
                "and the bucket needs genvault's storage policies (database/storage.sql)",
                code=status,
            )
        return StorageFailed(f"could not {action} {path}: {message}", code=status)


class HostedAuth:
    """Signs in with Supabase Auth and keeps the session in ``store``.

    It talks to Auth through a GoTrue client of its own that shares the
    Supabase client's URL, key and HTTP connections. Signing in through the
    shared ``client.auth`` would rewrite the shared client's default headers
    with this user's token; here, the session lives only in ``store``.
    """

    def __init__(self, client: supabase.Client, store: SessionStore) -> None:
        self._auth = SyncGoTrueClient(
            url=str(client.auth_url),
            headers={"apikey": client.supabase_key},
            http_client=_http_client(client),
            auto_refresh_token=False,
            persist_session=False,
            flow_type="implicit",
        )
        self._store = store

    def sign_in_password(self, email: str, password: str) -> Session:
        """Sign in with email and password, and save the session."""
        _validate.text(email, "email address")
        _validate.text(password, "password")
        try:
            response = self._auth.sign_in_with_password({"email": email, "password": password})
        except AuthError as exc:
            raise _auth_error(exc) from exc
        return self._keep(response.session)

    def send_code(self, email: str, *, create_user: bool = True) -> None:
        """Email a one-time sign-in code.

        With ``create_user`` (the default, as in Supabase) an unknown address
        gets an account, if the project allows sign-ups.
        """
        _validate.text(email, "email address")
        try:
            self._auth.sign_in_with_otp(
                {"email": email, "options": {"should_create_user": create_user}}
            )
        except AuthError as exc:
            raise _auth_error(exc) from exc

    def verify_code(self, email: str, code: str) -> Session:
        """Sign in with the emailed code, and save the session."""
        _validate.text(email, "email address")
        _validate.text(code, "code")
        try:
            response = self._auth.verify_otp(
                {"email": email, "token": code.strip(), "type": "email"}
            )
        except AuthError as exc:
            raise _auth_error(exc) from exc
        return self._keep(response.session)

    def current(self, refresh_margin: float = 60) -> Session:
        """The saved session, refreshed first when it expires within ``refresh_margin`` s."""
        session = self._store.load()
        if session is None or session.kind != "hosted" or not session.access_token:
            raise NotSignedIn("nobody is signed in", hint="sign in with `gen login`")
        if not session.expires_within(refresh_margin):
            return session
        if not session.refresh_token:
            raise SessionExpired("the session has expired", hint=_SIGN_IN_AGAIN)
        try:
            response = self._auth.refresh_session(session.refresh_token)
        except AuthError as exc:
            if _server_trouble(exc):
                raise _auth_error(exc) from exc
            # Refresh tokens are single-use: another process may have refreshed
            # this session a moment ago and saved the result.
            newer = self._store.load()
            if (
                newer is not None
                and newer.refresh_token != session.refresh_token
                and newer.access_token
                and not newer.expires_within(refresh_margin)
            ):
                return newer
            raise _refresh_refused(exc) from exc
        return self._keep(response.session)

    def sign_out(self, *, everywhere: bool = False) -> None:
        """Revoke the session at Supabase Auth, then forget it.

        The saved session is removed even when Auth reports it already invalid,
        or cannot be reached (then BackendUnreachable says it was not revoked).
        ``everywhere`` also signs the user out of their other devices.
        """
        session = self._store.load()
        if session is None:
            return
        try:
            token = session.access_token
            if token and session.refresh_token and session.expires_within(10):
                # An expired token cannot revoke anything: refresh it first.
                try:
                    fresh = self._auth.refresh_session(session.refresh_token).session
                    token = fresh.access_token if fresh else None
                except AuthApiError as exc:
                    if _server_trouble(exc):
                        raise
                    token = None  # the refresh token is already dead: nothing to revoke
            if token:
                self._auth.admin.sign_out(token, "global" if everywhere else "local")
        except AuthError as exc:
            if isinstance(exc, AuthApiError) and exc.status in (401, 403, 404):
                return  # already signed out at Auth
            if _server_trouble(exc):
                raise BackendUnreachable(
                    f"signed out here, but Supabase Auth could not revoke the session: "
                    f"{exc.message}",
                    hint="the session stays valid at Supabase until it expires",
                ) from exc
            raise _auth_error(exc) from exc
        finally:
            self._store.clear()

    def _keep(self, auth_session: AuthSession | None) -> Session:
        if auth_session is None:
            raise NotSignedIn(
                "Supabase Auth returned no session",
                hint="confirm the email address first, then sign in again",
            )
        expires_at = auth_session.expires_at or int(time.time()) + auth_session.expires_in
        session = Session(
            kind="hosted",
            user_id=auth_session.user.id,
            email=auth_session.user.email,
            access_token=auth_session.access_token,
            refresh_token=auth_session.refresh_token,
            expires_at=float(expires_at),
        )
        self._store.save(session)
        return session


# -- helpers -----------------------------------------------------------------


def _http_client(client: supabase.Client) -> httpx.Client:
    """The HTTP client the Supabase client was made with (its connection pool)."""
    http = client.options.httpx_client
    if http is None:  # a client not made by make_supabase_client
        http = httpx.Client(timeout=_TIMEOUT)
        client.options.httpx_client = http
    return http


def _is_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")


def _key_role(key: str) -> str | None:
    """Which role an API key grants: new keys by prefix, legacy keys by their JWT role."""
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    if _is_jwt(key):
        import jwt

        try:
            claims = jwt.decode(key, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return None
        role = claims.get("role")
        return role if isinstance(role, str) else None
    return None


def _require_service_key(client: supabase.Client) -> None:
    if _key_role(client.supabase_key) == "anon":
        raise ConfigError(
            "operator access needs the service role key, not the public key",
            hint="set SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY)",
        )


def _auth_headers(client: supabase.Client, token: str) -> dict[str, str]:
    """``apikey`` and ``Authorization`` for requests made as ``token``.

    ``token`` is a user's access token, or the client's own service key. New
    ``sb_`` keys are not JWTs: they go in ``apikey`` only, and the platform
    turns them into the matching role.
    """
    key = client.supabase_key
    if token == key:
        if _key_role(key) == "anon":  # the classic mistake: every call would run as anon
            raise NotSignedIn(
                "the public API key is not a user's access token", hint="sign in with `gen login`"
            )
        return (
            {"apikey": key, "Authorization": f"Bearer {key}"} if _is_jwt(key) else {"apikey": key}
        )
    if _is_jwt(token):
        return {"apikey": key, "Authorization": f"Bearer {token}"}
    raise NotSignedIn("the access token is malformed", hint="sign in with `gen login`")


def _anon_headers(client: supabase.Client) -> dict[str, str]:
    """``apikey`` (and, for a legacy anon key, which is a JWT, ``Authorization``) for
    requests that run as ``anon``: the public key stands in for a user's token."""
    key = client.supabase_key
    if _key_role(key) == "service_role":
        raise ConfigError(
            "a visitor's calls must not carry the service role key",
            hint="make the client with the public key (SUPABASE_ANON_KEY)",
        )
    return {"apikey": key, "Authorization": f"Bearer {key}"} if _is_jwt(key) else {"apikey": key}


def _json_value(value: Any) -> Any:
    """An rpc argument as JSON: uuids and times become strings, containers recurse."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"  # read by Postgres as an interval
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_value(v) for v in value]
    return value


def _rows(fn: str, data: Any) -> list[dict[str, Any]]:
    """PostgREST's answer as rows shaped like the direct transport's.

    A set of composite values arrives as a JSON array of objects; a set of
    scalars (``setof text``) as an array of bare values, which become
    ``{fn: value}`` rows, the column name Postgres gives them.
    """
    if data is None:
        return []
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [row if isinstance(row, dict) else {fn: row} for row in data]
    return [{fn: data}]


def _rest_error(exc: APIError) -> GenvaultError:
    """A PostgREST error (or the API gateway's) as a genvault error."""
    code = exc.code
    message = exc.message or "the request to the Supabase API failed"
    if (refused := _token_refusal(exc)) is not None:
        return refused
    if code and code.startswith("PGRST00"):  # PostgREST cannot reach its database
        return BackendUnreachable(f"Supabase's API cannot reach the database: {message}")
    if code and len(code) == 3 and code.isdigit():  # no PostgREST body, only an HTTP status
        status = int(code)
        if status == 401:
            return NotSignedIn(message, hint="sign in with `gen login`", code=code)
        if status >= 500:
            return BackendUnreachable(f"the Supabase API failed: {message}", code=code)
        return GenvaultError(f"the Supabase API refused the call: {message}", code=code)
    if code is None:
        if "api key" in message.lower():
            return ConfigError(
                f"Supabase refused the API key: {message}",
                hint="check SUPABASE_URL and SUPABASE_ANON_KEY",
            )
        if "jwt" in message.lower():
            return NotSignedIn(message, hint="sign in with `gen login`")
        return GenvaultError(message, hint=exc.hint)
    return error_from_code(code, message, exc.hint)


# PostgREST's answer when the token's role claim names no database role.
_NO_SUCH_ROLE = re.compile(r'^role "(?P<role>.*)" does not exist$')


def _token_refusal(exc: APIError) -> GenvaultError | None:
    """PostgREST's refusal of the access token itself, or None for other errors.

    PostgREST 13 answers an expired token with PGRST303, 12 with PGRST301 (both
    HTTP 401, message "JWT expired"); either way the session has to be renewed.
    A token whose ``role`` claim names a role the database lacks fails when
    PostgREST switches to it (SQLSTATE 22023; HTTP 401 on 13, 400 on 12).
    """
    code, message = exc.code, (exc.message or "").strip()
    if code in ("PGRST301", "PGRST303"):
        if message.lower() == "jwt expired":
            return SessionExpired("the session has expired", hint=_SIGN_IN_AGAIN, code=code)
        return NotSignedIn(
            f"Supabase refused the access token: {message}", hint=_SIGN_IN_AGAIN, code=code
        )
    found = _NO_SUCH_ROLE.match(message) if code == "22023" else None
    if found is not None:
        return NotSignedIn(
            f"the access token asks for the database role {found['role']!r}, "
            "which this Supabase project does not have",
            hint="sign in again with `gen login`; if that does not help, the project's "
            "custom access token hook sets a role its database lacks (ask its operator)",
            code=code,
        )
    return None


def _unreachable(where: str, exc: httpx.RequestError) -> BackendUnreachable:
    return BackendUnreachable(
        f"could not reach Supabase at {where}: {exc}",
        hint="check SUPABASE_URL and the network connection, then try again",
    )


def _server_trouble(exc: AuthError) -> bool:
    """Whether Auth could not answer (network, 5xx), as opposed to refusing."""
    if isinstance(exc, AuthRetryableError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and status >= 500


_AUTH_HINTS: dict[str, str] = {
    "invalid_credentials": "check the email address and password",
    "email_not_confirmed": "confirm the email address with the link Supabase sent, then sign in",
    "otp_expired": "ask for a new code and enter it within a few minutes",
    "otp_disabled": "this address has no account, and the project allows no sign-ups by code",
    "user_banned": "ask the project's operator",
}


def _auth_error(exc: AuthError) -> GenvaultError:
    """An Auth failure as a genvault error, keeping Auth's own message."""
    if _server_trouble(exc):
        return BackendUnreachable(
            f"Supabase Auth could not be reached: {exc.message}",
            hint="check SUPABASE_URL and the network connection, then try again",
        )
    code: str | None = exc.code
    if getattr(exc, "status", None) == 429:
        return GenvaultError(exc.message, hint="wait a minute, then try again", code=code or "429")
    return NotSignedIn(exc.message, hint=_AUTH_HINTS.get(code or ""), code=code)


def _refresh_refused(exc: AuthError) -> SessionExpired:
    """Auth's refusal to refresh a session: it has ended, so sign in again.

    Auth revokes every token of a session when a refresh token is used again
    after its reuse interval (a copy of the session file in use elsewhere, say).
    """
    if str(exc.code or "") == "refresh_token_already_used":
        return SessionExpired(
            "Supabase Auth ended the session: its refresh token was used again after "
            "it had been replaced (is a copy of this session in use elsewhere?)",
            hint=_SIGN_IN_AGAIN,
            code=exc.code,
        )
    return SessionExpired(
        f"the session has expired and could not be refreshed: {exc.message}",
        hint=_SIGN_IN_AGAIN,
        code=exc.code,
    )


def _epoch(value: Any) -> float:
    """Seconds since the epoch from Storage's ISO 8601 timestamps (0 when absent)."""
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
