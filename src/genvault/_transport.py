"""How a call reaches the database: the one interface both transports share.

Every database operation genvault performs is a call of one of its SQL
functions (``database/*.sql``), so a transport only has to carry a function
name and its arguments, as the signed-in user, and bring back what the function
returned. The semantics live in SQL; nothing here decides who may see what.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from genvault._exceptions import BackendUnreachable, GenvaultError, error_from_code

__all__ = ["DirectTransport", "Transport", "open_pool"]


class Transport(Protocol):
    """Carries a call of a genvault SQL function to the database."""

    def rpc(self, fn: str, args: Mapping[str, Any], *, scalar: bool = False) -> Any:
        """Call ``public.<fn>`` with named ``args``.

        Returns the rows (a list of dicts) of a set-returning function, or the
        single value when ``scalar`` is true, as PostgREST's ``/rpc`` does.
        """
        ...


def open_pool(conninfo: str, *, max_size: int = 8) -> ConnectionPool[psycopg.Connection[Any]]:
    """A connection pool that checks each connection before use, so that a restarted
    server is reconnected to instead of failing the next call."""
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "prepare_threshold": None},
        check=ConnectionPool.check_connection,
        open=False,
        timeout=10.0,
        name="genvault",
    )
    try:
        pool.open(wait=True, timeout=10.0)
    except Exception as exc:  # PoolTimeout or a connection error
        pool.close()
        raise BackendUnreachable(
            f"could not connect to the database: {exc}",
            hint="check DATABASE_URL and that the server is running",
        ) from exc
    return pool


class DirectTransport:
    """Calls genvault's SQL functions over a direct PostgreSQL connection.

    Each call is one transaction that first does what PostgREST does per request:
    ``set_config('role', <role>, true)`` and ``set_config('request.jwt.claims',
    <claims>, true)``. ``claims`` must already be verified (see :mod:`_tokens`).
    ``role`` is ``authenticated`` for a user and ``service_role`` for operators.
    """

    def __init__(
        self,
        pool: ConnectionPool[psycopg.Connection[Any]],
        *,
        role: str,
        claims: Mapping[str, Any],
    ) -> None:
        if role not in ("authenticated", "service_role", "anon"):
            raise ValueError(f"unknown role {role!r}")
        self._pool = pool
        self._role = role
        self._claims = json.dumps(dict(claims), separators=(",", ":"), default=str)

    @contextmanager
    def _as_user(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(
                    "select set_config('role', %s, true), "
                    "set_config('request.jwt.claims', %s, true)",
                    (self._role, self._claims),
                )
                yield conn
        except GenvaultError:
            raise
        except psycopg.OperationalError as exc:
            raise BackendUnreachable(
                f"lost the connection to the database: {exc}",
                hint="check that the database server is running, then try again",
            ) from exc
        except psycopg.Error as exc:
            diag = exc.diag
            raise error_from_code(
                exc.sqlstate, diag.message_primary or str(exc), diag.message_hint
            ) from exc
        except Exception as exc:  # psycopg_pool.PoolTimeout
            if type(exc).__name__ == "PoolTimeout":
                raise BackendUnreachable(
                    "timed out waiting for a database connection",
                    hint="check that the database server is running",
                ) from exc
            raise

    def rpc(self, fn: str, args: Mapping[str, Any], *, scalar: bool = False) -> Any:
        query = sql.SQL("select * from public.{}({})").format(
            sql.Identifier(fn),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name))
                for name in args
            ),
        )
        params = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in args.items()}
        with self._as_user() as conn:
            rows = conn.execute(query, params).fetchall()
        if scalar:
            return next(iter(rows[0].values())) if rows else None
        return rows
