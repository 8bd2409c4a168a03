"""How a call reaches the database: the one interface both transports share.

Every database operation genvault performs is a call of one of its SQL
functions (``database/*.sql``), so a transport only has to carry a function
name and its arguments, as the signed-in user, and bring back what the function
returned. The semantics live in SQL; nothing here decides who may see what.
"""

from __future__ import annotations

import contextlib
import json
import select
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from genvault import _validate
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


def _check_idle(conn: psycopg.Connection[Any]) -> None:
    """Refuse a pooled connection that the server has closed, without a round trip.

    An idle connection has nothing to read. A server that shut down, restarted
    or ended the session has sent a notice and closed the socket, which makes
    it readable: only then is the connection tried with a real (empty) query,
    and the pool replaces it if that fails.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def open_pool(conninfo: str, *, max_size: int = 8) -> ConnectionPool[psycopg.Connection[Any]]:
    """A connection pool that checks each connection before use, so that a restarted
    server is reconnected to instead of failing the next call.

    Connections are in autocommit mode: :class:`DirectTransport` writes each
    call's BEGIN and COMMIT itself, so that they travel with the call.
    """
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "prepare_threshold": None, "autocommit": True},
        check=_check_idle,
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


_ACT_AS = "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"
_IDLE = psycopg.pq.TransactionStatus.IDLE


@contextlib.contextmanager
def _no_pipeline() -> Any:
    """Stands in for ``conn.pipeline()`` where libpq is too old for pipeline mode
    (before 14): the same statements then go one round trip each."""
    yield None


@lru_cache(maxsize=256)
def _call_sql(fn: str, names: tuple[str, ...]) -> sql.Composed:
    """``select * from public.<fn>(name => %(name)s, ...)``, composed once per shape."""
    return sql.SQL("select * from public.{}({})").format(
        sql.Identifier(fn),
        sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in names
        ),
    )


class DirectTransport:
    """Calls genvault's SQL functions over a direct PostgreSQL connection.

    Each call is one transaction that first does what PostgREST does per request:
    ``set_config('role', <role>, true)`` and ``set_config('request.jwt.claims',
    <claims>, true)``. ``claims`` must already be verified (see :mod:`_tokens`).
    ``role`` is ``authenticated`` for a user and ``service_role`` for operators.

    BEGIN, the two settings, the call and COMMIT are sent together in pipeline
    mode and answered together: one round trip to the server per call.
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

    def rpc(self, fn: str, args: Mapping[str, Any], *, scalar: bool = False) -> Any:
        _validate.call_arguments(fn, args)
        query = _call_sql(fn, tuple(args))
        params = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in args.items()}
        rows = self._run(query, params)
        if scalar:
            return next(iter(rows[0].values())) if rows else None
        return rows

    def _call(
        self, conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """One call on ``conn``: BEGIN, act as the role, the call, COMMIT; its rows."""
        failed: psycopg.Error | None = None
        try:
            with conn.pipeline() if psycopg.Pipeline.is_supported() else _no_pipeline():
                try:
                    conn.execute("begin")
                    conn.execute(_ACT_AS, (self._role, self._claims))
                    cur = conn.execute(query, params)
                    conn.execute("commit")
                except psycopg.Error as exc:
                    # The server's answer to an earlier statement can arrive while
                    # later ones are still being queued. Keep that first error and
                    # let the pipeline end normally; it then reports the rest as
                    # aborted, which is not news.
                    failed = exc
        except psycopg.Error as exc:
            failed = failed or exc
        if failed is None:
            rows: list[dict[str, Any]] = cur.fetchall()
            return rows
        # A failed statement leaves the transaction aborted: end it here, before
        # the connection goes back to the pool.
        if not conn.closed and conn.info.transaction_status != _IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
        raise failed

    def _run(self, query: sql.Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            with self._pool.connection() as conn:
                return self._call(conn, query, params)
        except GenvaultError:
            raise
        except psycopg.Error as exc:
            if exc.sqlstate is None and isinstance(exc, psycopg.OperationalError):
                raise BackendUnreachable(
                    f"lost the connection to the database: {exc}",
                    hint="check that the database server is running, then try again",
                ) from exc
            # An error the server answered with. psycopg files some SQLSTATE classes
            # (28, 55, 57, ...) under OperationalError too; the code says what it is.
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
