"""genvault's SQL functions over a hosted project's PostgREST (``/rest/v1/rpc/<fn>``).

The hosted twin of :class:`~genvault._transport.DirectTransport`: the same
calls, the same rows back, the same errors, with PostgREST switching to the
caller's role from the access token each request carries.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, cast

import httpx
import supabase
from postgrest import APIError, SyncPostgrestClient

from genvault import _validate
from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    GenvaultError,
    NotSignedIn,
    SessionExpired,
    error_from_code,
)
from genvault._hosted_client import (
    SIGN_IN_AGAIN,
    anon_headers,
    auth_headers,
    http_client,
    require_service_key,
    unreachable,
)

__all__ = ["HostedTransport"]

_FUNCTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class HostedTransport:
    """Calls genvault's SQL functions through PostgREST's ``/rest/v1/rpc/<fn>``.

    Each request carries the user's access token, so PostgREST runs the function
    as that user and row level security decides what it sees, exactly as on a
    direct connection. Without a token (``None``, see :meth:`anonymous`) the
    calls run as ``anon``, as a visitor's do.
    """

    def __init__(self, client: supabase.Client, access_token: str | None) -> None:
        auth = anon_headers(client) if access_token is None else auth_headers(client, access_token)
        self._rest = SyncPostgrestClient(
            str(client.rest_url),
            schema=client.options.schema,
            headers={"Accept": "application/json", "Content-Type": "application/json", **auth},
            http_client=http_client(client),
        )
        self._where = str(client.supabase_url)

    @classmethod
    def service(cls, client: supabase.Client) -> HostedTransport:
        """The operator's transport, for a client made with the service key.

        A legacy service_role key is a JWT and goes in ``Authorization`` too; a
        new ``sb_secret_`` key is not a JWT and is sent as ``apikey`` only.
        """
        require_service_key(client)
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
            raise unreachable(self._where, exc) from exc
        data = response.data
        if scalar:
            return data
        return _rows(fn, data)


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
            return SessionExpired("the session has expired", hint=SIGN_IN_AGAIN, code=code)
        return NotSignedIn(
            f"Supabase refused the access token: {message}", hint=SIGN_IN_AGAIN, code=code
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
