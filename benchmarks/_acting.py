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

    def nested_plans(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[str] | None:
        """The plans (with actual times) of the statements a function call runs
        dynamically, shown by auto_explain; None where the server has no auto_explain.
        ``query`` runs as the role in a rolled-back transaction."""
        conn = self._conn
        try:
            conn.execute("load 'auto_explain'")
        except psycopg.Error:
            return None
        found: list[str] = []

        def keep(diag: psycopg.errors.Diagnostic) -> None:
            text = diag.message_primary or ""
            if any(marker in text for marker in _DYNAMIC):
                found.append(text.split("plan:", 1)[-1].strip())

        conn.add_notice_handler(keep)
        try:
            with conn.transaction(force_rollback=True):
                for setting in _TRACE:
                    conn.execute(setting.encode())
                conn.execute(_ACT_AS, (self._role, self._claims))
                conn.execute(query.encode(), params).fetchall()
        finally:
            conn.remove_notice_handler(keep)
        return found


_TRACE = (
    "set local auto_explain.log_min_duration = 0",
    "set local auto_explain.log_analyze = on",
    "set local auto_explain.log_buffers = on",
    "set local auto_explain.log_nested_statements = on",
    "set local client_min_messages = log",
)
# The statements find_generations builds and runs with EXECUTE (database/organising.sql).
_DYNAMIC = ("select coalesce(array_agg(w.id", "select p.*, public.genvault_tags_of(p.id)")


def plan_text(rows: list[dict[str, Any]]) -> str:
    """The lines of an EXPLAIN result as one text block."""
    return "\n".join(str(next(iter(r.values()))) for r in rows)
