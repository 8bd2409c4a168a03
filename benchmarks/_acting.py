"""Running SQL the way genvault's direct transport does, for side-by-side figures.

The library only calls genvault's SQL functions. Some comparisons need other
SQL (the OFFSET query a naive client would send, the same query as
service_role, a policy written another way), and a fair comparison sends it
exactly as the transport sends a call: in one pipelined round trip of BEGIN,
``set_config('role', ...)`` and ``set_config('request.jwt.claims', ...)``
(both transaction-local), the statement, and COMMIT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["Actor", "plan_text"]

_ACT_AS = "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"


class Actor:
    """One connection that runs statements as ``role`` with ``claims``."""

    def __init__(self, url: str, *, role: str, claims: Mapping[str, Any]) -> None:
        self._conn: psycopg.Connection[dict[str, Any]] = psycopg.connect(
            url, autocommit=True, row_factory=dict_row, prepare_threshold=None
        )
        self._role = role
        self._claims = json.dumps(dict(claims), separators=(",", ":"))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Actor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        settings: str = "",
    ) -> list[dict[str, Any]]:
        """Run one statement in its own transaction (after ``settings``, a statement
        that changes transaction-local settings, if given); its rows."""
        conn = self._conn
        with conn.pipeline():
            conn.execute("begin")
            conn.execute(_ACT_AS, (self._role, self._claims))
            if settings:
                conn.execute(settings.encode())
            cur = conn.execute(query.encode(), params)
            conn.execute("commit")
        return cur.fetchall()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A transaction acting as the role, rolled back at the end (for EXPLAIN ANALYZE)."""
        conn = self._conn
        with conn.transaction(force_rollback=True):
            conn.execute(_ACT_AS, (self._role, self._claims))
            yield conn

    def explain(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = (), *, settings: str = ""
    ) -> str:
        """EXPLAIN (ANALYZE, BUFFERS) of ``query`` as the role, in a rolled-back transaction."""
        with self.transaction() as conn:
            if settings:
                conn.execute(settings.encode())
            rows = conn.execute(
                f"explain (analyze, buffers, costs off) {query}".encode(),
                params,
            ).fetchall()
        return plan_text(rows)


def plan_text(rows: list[dict[str, Any]]) -> str:
    """The lines of an EXPLAIN result as one text block."""
    return "\n".join(str(next(iter(r.values()))) for r in rows)
