"""Applying genvault's SQL to a benchmark database that was loaded earlier.

``--reuse`` keeps a loaded data set between runs. Its schema must still be the
current one, so every migration file is applied again over it (each is
idempotent) and its recorded checksum updated, so that genvault (the ``gen``
command on the embedded server, say) finds it current.
"""

from __future__ import annotations

import hashlib

import psycopg

from genvault._migrate import MIGRATIONS, sql_dir

__all__ = ["reapply"]


def reapply(url: str) -> list[str]:
    """Apply the migration files again; the names of those applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        recorded = {
            str(name)
            for (name,) in conn.execute("select name from genvault_meta.migrations").fetchall()
        }
        for migration in MIGRATIONS:
            if migration.name not in recorded:
                continue  # never applied here (another server kind): leave it so
            text = (sql_dir() / migration.name).read_text()
            with conn.transaction():
                conn.execute("set local search_path = public, extensions")
                conn.execute(text.encode())
                conn.execute(
                    "update genvault_meta.migrations set checksum = %s where name = %s",
                    (hashlib.sha256(text.encode()).hexdigest(), migration.name),
                )
            applied.append(migration.name)
    return applied
