"""What every section works with: the loaded database, its users, and options."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from benchmarks._acting import Actor
from benchmarks._dataset import DataSize, LoadReport
from benchmarks._server import Server
from genvault import Client, Settings
from genvault._tokens import mint_token

__all__ = ["JWT_SECRET", "Bench", "Options"]

JWT_SECRET = "genvault-benchmark-signing-secret-0123456789abcdef"  # noqa: S105
"""Signs the tokens of the benchmark's library clients (verified by the client, as
genvault does on a direct connection)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Options:
    """How much to measure. The defaults are those of the full run."""

    size: DataSize = field(default_factory=DataSize)
    iterations: int = 200
    """Timed runs of each fast figure, after ``warmup`` untimed ones."""
    warmup: int = 20
    slow_iterations: int = 30
    """Timed runs of figures that take a large part of a second or more."""
    admin_iterations: int = 5
    """Timed runs of each operator function over the whole table."""
    workers: int = 16
    concurrency_seconds: float = 10.0
    export_images: int = 1000
    cli_runs: int = 30
    cli_warmup: int = 3
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "genvault-benchmarks"
    )
    reuse: bool = False
    progress: Callable[[str], None] = _stderr


class Bench:
    """The loaded database and helpers to act in it as its users."""

    def __init__(self, server: Server, load: LoadReport, options: Options) -> None:
        self.server = server
        self.load = load
        self.options = options
        self.url = server.url
        self.heavy_user = load.heavy_user
        self._started = time.perf_counter()
        self.library_home = options.workdir / "library"
        self.library_home.mkdir(parents=True, exist_ok=True)

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self._started
        self.options.progress(f"[{self.server.name} {elapsed:6.0f}s] {message}")

    def settings(self, *, database_url: str | None = None) -> Settings:
        return Settings(
            home=self.library_home, database_url=database_url or self.url, jwt_secret=JWT_SECRET
        )

    def client(self, user_id: str, *, database_url: str | None = None) -> Client:
        """A library client signed in as ``user_id`` (direct transport, local storage)."""
        token = mint_token(JWT_SECRET, sub=user_id, email=None, ttl=6 * 3600)
        return Client(self.settings(database_url=database_url), access_token=token)

    def operator(self) -> Client:
        """A library client for operator calls (service_role over the direct transport)."""
        return Client(self.settings())

    def actor(self, role: str, user_id: str | None = None) -> Actor:
        claims: dict[str, Any] = (
            {"sub": user_id, "role": role, "aud": "authenticated"} if user_id else {"role": role}
        )
        return Actor(self.url, role=role, claims=claims)

    @contextmanager
    def owner(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection as the database owner (bypasses RLS), autocommit."""
        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            yield conn

    def new_user(self, label: str, *, credits: int) -> str:
        """Sign up a user as Supabase Auth does (the trigger gives the starter
        credits), then grant credits as an operator (a ledger entry explains it)."""
        user_id = str(uuid.uuid4())
        with self.owner() as conn:
            conn.execute(
                "insert into auth.users (id, email) values (%s, %s)",
                (user_id, f"{label}-{secrets.token_hex(3)}@bench.genvault.test"),
            )
            conn.execute("select public.grant_credits(%s, %s)", (user_id, credits))
        return user_id
