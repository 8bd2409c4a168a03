"""One hosted Supabase project: the client for it, its API keys, and the headers they make.

PostgREST, Storage and Auth (:mod:`_hosted_rest`, :mod:`_hosted_storage`,
:mod:`_hosted_auth`) all start from the ``supabase.Client`` made here and share
its ``httpx.Client``. What every request carries is decided here too: the
project's public key as ``apikey``, and the caller's own access token as
``Authorization: Bearer``, set on each request rather than on the shared
client's default headers (without it a request silently runs as ``anon``, and
with the wrong one it runs as somebody else).
"""

from __future__ import annotations

import httpx
import supabase

from genvault._exceptions import BackendUnreachable, ConfigError, NotSignedIn
from genvault._settings import Settings

__all__ = [
    "SIGN_IN_AGAIN",
    "anon_headers",
    "auth_headers",
    "http_client",
    "make_supabase_client",
    "require_service_key",
    "unreachable",
]

_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
SIGN_IN_AGAIN = "sign in again with `gen login`"


def make_supabase_client(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    key: str | None = None,
) -> supabase.Client:
    """A sync Supabase client for the configured project.

    ``key`` defaults to the public (anon or publishable) key; operator code
    passes the service key instead. Sessions are neither kept nor refreshed by
    the client itself: :class:`~genvault._hosted_auth.HostedAuth` owns the
    session, in its own file. ``http_client`` carries every request of every
    service (one connection pool, and the way tests put a double behind the client).
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
    # supabase 2.34 hands this one client to its PostgREST, Storage, Auth and
    # Functions clients alike (Realtime uses websockets and sends nothing until a
    # channel is opened), and genvault's own service objects reuse it.
    options = supabase.ClientOptions(
        httpx_client=http_client or httpx.Client(timeout=_TIMEOUT),
        auto_refresh_token=False,
        persist_session=False,
        flow_type="implicit",
    )
    return supabase.create_client(settings.supabase_url, api_key, options=options)


def http_client(client: supabase.Client) -> httpx.Client:
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


def require_service_key(client: supabase.Client) -> None:
    """Refuse operator access through a client made with the public key."""
    if _key_role(client.supabase_key) == "anon":
        raise ConfigError(
            "operator access needs the service role key, not the public key",
            hint="set SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY)",
        )


def auth_headers(client: supabase.Client, token: str) -> dict[str, str]:
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
        return _key_headers(key)
    if _is_jwt(token):
        return {"apikey": key, "Authorization": f"Bearer {token}"}
    raise NotSignedIn("the access token is malformed", hint="sign in with `gen login`")


def anon_headers(client: supabase.Client) -> dict[str, str]:
    """``apikey`` (and, for a legacy anon key, which is a JWT, ``Authorization``) for
    requests that run as ``anon``: the public key stands in for a user's token."""
    key = client.supabase_key
    if _key_role(key) == "service_role":
        raise ConfigError(
            "a visitor's calls must not carry the service role key",
            hint="make the client with the public key (SUPABASE_ANON_KEY)",
        )
    return _key_headers(key)


def _key_headers(key: str) -> dict[str, str]:
    """A key sent in place of a user's token: a legacy key (a JWT) in both headers."""
    return {"apikey": key, "Authorization": f"Bearer {key}"} if _is_jwt(key) else {"apikey": key}


def unreachable(where: str, exc: httpx.RequestError) -> BackendUnreachable:
    """The project could not be reached at all (DNS, connection, timeout)."""
    return BackendUnreachable(
        f"could not reach Supabase at {where}: {exc}",
        hint="check SUPABASE_URL and the network connection, then try again",
    )
