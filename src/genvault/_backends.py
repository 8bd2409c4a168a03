"""Where a Client's calls go: the transport and storage for each kind of caller.

Three kinds of caller reach genvault's data, and each gets a transport (and,
where files are involved, a storage) that acts as them and nobody else:

* a signed-in user (:meth:`Backends.for_user`): their own rows and files;
* a visitor of a public link (:meth:`Backends.for_visitor`): ``anon``, which
  sees what the link shows and nothing more;
* an operator (:meth:`Backends.for_operator`): ``service_role``, plus the
  database owner's URL for the few jobs that need it.

Each reaches one of two backends, chosen by :class:`Settings`: a direct
PostgreSQL (the embedded server, or DATABASE_URL) with files on this machine,
or a hosted Supabase project over HTTP. This module is the one place that
pairs callers with backends. The hosted modules, and with them supabase-py and
httpx, are imported only when the settings name a project.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

from genvault._exceptions import BackendUnreachable, InvalidInput, PermissionDenied
from genvault._settings import Settings
from genvault._storage import LocalStorage, Storage
from genvault._transport import DirectTransport, Transport, open_pool

if TYPE_CHECKING:
    import supabase

__all__ = ["Backends"]

Pool = ConnectionPool[psycopg.Connection[Any]]


class Backends:
    """The connections of one Client, opened on first use and kept until :meth:`close`.

    Safe to share between threads: each connection is set up once, under a lock.
    """

    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        self.settings = settings
        self._http_client = http_client
        self._lock = threading.RLock()
        self._url: str | None = None
        self._answered = False  # the server at _url has answered a connection already
        self._pool: Pool | None = None
        self._supabase: supabase.Client | None = None

    def close(self) -> None:
        """Release the database connections (a later call opens them again)."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # -- a direct database ------------------------------------------------
    def database_url(self) -> str:
        """The direct connection URL, starting the embedded server if it is the one used."""
        if self.settings.hosted:
            raise InvalidInput(
                "this profile uses a hosted Supabase project, not a direct database",
                hint="set DATABASE_URL to the project's direct connection string",
            )
        with self._lock:
            if self._url is None:
                if self.settings.database_url:
                    self._url = self.settings.database_url
                else:
                    from genvault._embedded import ready_url

                    self._url = ready_url(self.settings.home)
                    self._answered = True
            return self._url

    def pool(self) -> Pool:
        """The connection pool to the direct database, opened on first use."""
        with self._lock:
            if self._pool is None:
                url = self.database_url()
                if not self._answered:
                    _probe(url)
                self._pool = open_pool(url)
            return self._pool

    @property
    def opened_pool(self) -> Pool | None:
        """The pool if one is open, without opening it."""
        return self._pool

    @contextmanager
    def owner_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection as the database owner (autocommit), for what no API role may do."""
        try:
            with psycopg.connect(self.database_url(), autocommit=True) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise BackendUnreachable(f"could not connect to the database: {exc}") from exc

    def local_storage(self) -> LocalStorage:
        """The image files under the data folder."""
        return LocalStorage(self.settings.home / "images")

    # -- a hosted project -------------------------------------------------
    def supabase(self) -> supabase.Client:
        """The project's client, made with its public key on first use."""
        with self._lock:
            if self._supabase is None:
                from genvault._hosted_client import make_supabase_client

                self._supabase = make_supabase_client(self.settings, http_client=self._http_client)
            return self._supabase

    # -- callers ----------------------------------------------------------
    def for_user(self, claims: dict[str, Any], token: str | None) -> tuple[Transport, Storage]:
        """Transport and storage acting as the user of ``claims``.

        On a direct database ``claims`` must already be verified. ``token`` is
        the access token that PostgREST and Storage check; a local session has
        none unless its files are kept in Supabase Storage.
        """
        storage: Storage
        if self.settings.storage_kind == "supabase":
            from genvault._hosted_storage import SupabaseStorage

            storage = SupabaseStorage(self.supabase(), _needed(token), self.settings.bucket)
        else:
            storage = self.local_storage()
        if self.settings.hosted:
            from genvault._hosted_rest import HostedTransport

            return HostedTransport(self.supabase(), _needed(token)), storage
        return DirectTransport(self.pool(), role="authenticated", claims=claims), storage

    def for_visitor(self) -> Transport:
        """A transport acting as ``anon``: a public link's visitor, who has no account."""
        if self.settings.hosted:
            from genvault._hosted_rest import HostedTransport

            return HostedTransport.anonymous(self.supabase())
        return DirectTransport(self.pool(), role="anon", claims={"role": "anon"})

    def for_operator(self) -> tuple[Transport, Storage, str | None]:
        """Transport and storage acting as ``service_role``, and the owner's URL (direct only).

        A hosted project needs the service role key; files in Supabase Storage
        cannot be reached by an operator without it either.
        """
        if self.settings.hosted:
            return self._hosted_operator()
        if self.settings.storage_kind == "supabase":
            raise PermissionDenied(
                "operator commands with Supabase Storage need the service role key",
                hint="set SUPABASE_SERVICE_ROLE_KEY",
            )
        transport = DirectTransport(
            self.pool(), role="service_role", claims={"role": "service_role"}
        )
        return transport, self.local_storage(), self.database_url()

    def _hosted_operator(self) -> tuple[Transport, Storage, None]:
        key = self.settings.supabase_service_key
        if not key:
            raise PermissionDenied(
                "operator commands need the service role key",
                hint="set SUPABASE_SERVICE_ROLE_KEY, or DATABASE_URL for a direct connection",
            )
        from genvault._hosted_client import make_supabase_client
        from genvault._hosted_rest import HostedTransport
        from genvault._hosted_storage import SupabaseStorage

        client = make_supabase_client(self.settings, http_client=self._http_client, key=key)
        storage = SupabaseStorage.service(client, self.settings.bucket)
        return HostedTransport.service(client), storage, None


def _needed(token: str | None) -> str:
    if token is None:  # a programming mistake: the sign-in layer always mints one here
        raise ValueError("Supabase needs the user's access token")
    return token


def _probe(url: str) -> None:
    """Fail fast, with one clear error, when the database cannot be reached at all.

    The pool would otherwise retry in the background for its whole timeout and
    log each attempt.
    """
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        raise BackendUnreachable(
            f"could not connect to the database: {str(exc).strip().splitlines()[0]}",
            hint="check DATABASE_URL and that the server is running",
        ) from exc
