"""The entry point: a :class:`Client` connects, signs in, and hands out the repos.

Which backend it uses follows from :class:`Settings`: the embedded PostgreSQL
with local files by default, any PostgreSQL through DATABASE_URL, or a hosted
Supabase project through SUPABASE_URL. Whichever it is, every call runs as the
signed-in user and the database decides what that user may do.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from genvault import _validate
from genvault._account import AccountDeletion, erase_account
from genvault._admin import AdminRepo, operator_repo
from genvault._collections import CollectionsRepo
from genvault._credits import CreditsRepo
from genvault._exceptions import (
    BackendUnreachable,
    InvalidInput,
    NotSignedIn,
    StorageFailed,
)
from genvault._export import ExportProgress, ExportResult, export_history
from genvault._flow import Generator, SweepResult
from genvault._generations import GenerationsRepo
from genvault._imagegen import ImageModel, StatusCallback
from genvault._recipe import Recipe, make_recipe
from genvault._records import Generation, SharedGeneration
from genvault._session import Session, SessionStore
from genvault._settings import Settings
from genvault._sharing import SharingRepo, open_link, read_shared
from genvault._storage import LocalStorage, Storage
from genvault._templates import TemplatesRepo
from genvault._transport import DirectTransport, Transport, open_pool

__all__ = ["Client"]

_LOCAL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
LOCAL_EMAIL_DOMAIN = "local.genvault"


class Client:
    """genvault for one profile: sign in, then use ``generations``, ``credits`` and ``create``.

    Use it as a context manager (or call :meth:`close`) to release connections.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        access_token: str | None = None,
        http_client: Any = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self._store = SessionStore(self.settings.profile_dir / "session.json")
        self._access_token = access_token
        self._http_client = http_client
        self._pool: Any = None
        self._db_url: str | None = None
        self._supabase: Any = None
        self._verifier: Any = None
        self._signed_in: tuple[Transport, Storage, str, float] | None = None
        # One Client may serve several threads (the web gallery does): the lazy
        # set-up below happens once, under this lock.
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Release database connections."""
        with self._lock:
            self._signed_in = None
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------
    def database_url(self) -> str:
        """The direct connection URL (starting the embedded server if needed)."""
        if self.settings.hosted:
            raise InvalidInput(
                "this profile uses a hosted Supabase project, not a direct database",
                hint="set DATABASE_URL to the project's direct connection string",
            )
        with self._lock:
            return self._database_url()

    def _database_url(self) -> str:
        if self._db_url is None:
            if self.settings.database_url:
                self._db_url = self.settings.database_url
            else:
                from genvault._embedded import embedded_url
                from genvault._migrate import migrate

                self._db_url = embedded_url(self.settings.home)
                migrate(self._db_url)
        return self._db_url

    def _db_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                url = self.database_url()
                _probe(url)
                self._pool = open_pool(url)
            return self._pool

    def _supabase_client(self) -> Any:
        with self._lock:
            if self._supabase is None:
                from genvault._hosted import make_supabase_client

                self._supabase = make_supabase_client(self.settings, http_client=self._http_client)
            return self._supabase

    def _token_verifier(self) -> Any:
        with self._lock:
            return self._make_verifier()

    def _make_verifier(self) -> Any:
        if self._verifier is None:
            from genvault._jwks import SigningKeys, http_fetcher
            from genvault._tokens import TokenVerifier

            keys = None
            url = self.settings.signing_keys_url
            if url:
                # Read when a token first needs them, then kept (see SigningKeys).
                fetch = http_fetcher(self._http_client, api_key=self.settings.supabase_key)
                keys = SigningKeys(url, fetch)
            self._verifier = TokenVerifier(secret=self._signing_secret(), keys=keys)
        return self._verifier

    def _signing_secret(self) -> str | None:
        if self.settings.jwt_secret:
            return self.settings.jwt_secret
        if self.settings.embedded or self.settings.database_url:
            from genvault._tokens import local_secret

            return local_secret(self.settings.home / "jwt_secret")
        return None

    def _access(self) -> tuple[str, dict[str, Any]]:
        """(access token, claims) of the signed-in user, refreshed if needed.

        On a direct connection the claims are verified here, before any SQL runs.
        """
        if self._access_token is not None:
            token = self._access_token
        else:
            session = self._store.load()
            if session is None:
                raise NotSignedIn("nobody is signed in", hint="sign in with `gen login`")
            if session.kind == "local":
                if self.settings.hosted:
                    raise NotSignedIn(
                        "the saved session is a local one, but this profile is hosted",
                        hint="sign in with `gen login`",
                    )
                from genvault._tokens import mint_token

                secret = self._signing_secret()
                assert secret is not None
                token = mint_token(secret, sub=session.user_id, email=session.email, ttl=3600)
            else:
                from genvault._hosted import HostedAuth

                session = HostedAuth(self._supabase_client(), self._store).current()
                assert session.access_token is not None
                token = session.access_token
        if self.settings.hosted:
            # PostgREST verifies hosted tokens; read the user id for storage paths.
            import jwt

            try:
                unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
            except jwt.InvalidTokenError as exc:
                raise NotSignedIn(
                    "the access token is malformed", hint="sign in again with `gen login`"
                ) from exc
            return token, unverified
        verified: dict[str, Any] = self._token_verifier().verify(token)
        return token, verified

    def _user(self) -> tuple[Transport, Storage, str]:
        """Transport and storage acting as the signed-in user, and the user's id.

        Kept until a minute before the access token expires, so that a burst of
        calls reads the session and checks the token once, not once per call.
        """
        with self._lock:
            cached = self._signed_in
            if cached is None or cached[3] - time.time() < 60:
                cached = self._sign_in_context()
                self._signed_in = cached
            return cached[0], cached[1], cached[2]

    def _sign_in_context(self) -> tuple[Transport, Storage, str, float]:
        token, claims = self._access()
        user_id = str(claims.get("sub"))
        storage: Storage
        if self.settings.storage_kind == "supabase":
            from genvault._hosted import SupabaseStorage

            storage = SupabaseStorage(self._supabase_client(), token, self.settings.bucket)
        else:
            storage = LocalStorage(self.settings.home / "images")
        transport: Transport
        if self.settings.hosted:
            from genvault._hosted import HostedTransport

            transport = HostedTransport(self._supabase_client(), token)
        else:
            transport = DirectTransport(self._db_pool(), role="authenticated", claims=claims)
        return transport, storage, user_id, float(claims.get("exp") or time.time() + 300)

    # -- sessions ----------------------------------------------------------
    def session(self) -> Session | None:
        """Who is signed in on this profile (None when nobody is)."""
        return self._store.load()

    def sign_in_local(self, name: str) -> Session:
        """Sign in as a local user of the embedded or a plain PostgreSQL database.

        The user is created, with the starter credits, the first time the name is used.
        """
        if self.settings.hosted:
            raise InvalidInput(
                "local users exist only on the embedded or a plain PostgreSQL database",
                hint="use `gen login` with your email for a hosted project",
            )
        if not _LOCAL_NAME.match(name):
            raise InvalidInput(
                f"{name!r} is not a usable local user name",
                hint="use lower-case letters, digits, '.', '-' and '_' (up to 63 characters)",
            )
        email = f"{name}@{LOCAL_EMAIL_DOMAIN}"
        with self._owner_connection() as conn:
            plain = conn.execute(
                "select exists (select from genvault_meta.migrations "
                "where name = 'supabase_compat.sql')"
            ).fetchone()
            if not plain or not plain[0]:
                raise InvalidInput(
                    "this database is a Supabase project: its users sign in with Supabase Auth",
                    hint="use `gen login` with your email",
                )
            row = conn.execute(
                "insert into auth.users (id, email) values (%s, %s) "
                "on conflict (email) do update set email = excluded.email returning id",
                (uuid.uuid4(), email),
            ).fetchone()
        assert row is not None
        session = Session(kind="local", user_id=str(row[0]), email=email)
        self._store.save(session)
        self._signed_in = None
        return session

    def sign_in(self, email: str, password: str) -> Session:
        """Sign in to the hosted project with email and password."""
        from genvault._hosted import HostedAuth

        session: Session = HostedAuth(self._hosted_only(), self._store).sign_in_password(
            email, password
        )
        self._signed_in = None
        return session

    def send_code(self, email: str) -> None:
        """Email a one-time sign-in code (hosted)."""
        from genvault._hosted import HostedAuth

        HostedAuth(self._hosted_only(), self._store).send_code(email)

    def verify_code(self, email: str, code: str) -> Session:
        """Sign in with the emailed one-time code (hosted)."""
        from genvault._hosted import HostedAuth

        session: Session = HostedAuth(self._hosted_only(), self._store).verify_code(email, code)
        self._signed_in = None
        return session

    def sign_out(self) -> None:
        """Sign out: revoke the hosted session, forget the saved one."""
        session = self._store.load()
        if session is not None and session.kind == "hosted" and self.settings.supabase_url:
            from genvault._hosted import HostedAuth

            HostedAuth(self._supabase_client(), self._store).sign_out()
        self._store.clear()
        self._signed_in = None

    def _hosted_only(self) -> Any:
        if not self.settings.supabase_url:
            raise InvalidInput(
                "email sign-in needs a hosted Supabase project",
                hint="set SUPABASE_URL and SUPABASE_ANON_KEY, or use `gen login --local NAME`",
            )
        return self._supabase_client()

    @contextmanager
    def _owner_connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with psycopg.connect(self.database_url(), autocommit=True) as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise BackendUnreachable(f"could not connect to the database: {exc}") from exc

    # -- the user's data ---------------------------------------------------
    @property
    def generations(self) -> GenerationsRepo:
        """The signed-in user's history."""
        transport, storage, _ = self._user()
        return GenerationsRepo(transport, storage)

    @property
    def credits(self) -> CreditsRepo:
        """The signed-in user's credits."""
        transport, _, _ = self._user()
        return CreditsRepo(transport)

    @property
    def collections(self) -> CollectionsRepo:
        """The signed-in user's collections."""
        transport, _, _ = self._user()
        return CollectionsRepo(transport)

    @property
    def sharing(self) -> SharingRepo:
        """What the signed-in user shares, and what others share with them."""
        transport, storage, _ = self._user()
        return SharingRepo(transport, storage)

    @property
    def templates(self) -> TemplatesRepo:
        """The signed-in user's prompt templates."""
        transport, _, _ = self._user()
        return TemplatesRepo(transport)

    def open_link(self, token: str) -> list[SharedGeneration]:
        """What a public link shows, as a visitor without an account would see it."""
        return open_link(self._anonymous(), token)

    def read_link_image(self, item: SharedGeneration, *, thumbnail: bool = False) -> bytes:
        """The bytes of an image a public link showed (see :meth:`open_link`)."""
        if self.settings.storage_kind == "supabase":
            raise StorageFailed(
                "images behind public links are served from local storage only",
                hint="open the link in `gen ui` on the machine that holds the images",
            )
        return read_shared(LocalStorage(self.settings.home / "images"), item, thumbnail=thumbnail)

    def _anonymous(self) -> Transport:
        if self.settings.hosted:
            from genvault._hosted import HostedTransport

            return HostedTransport.anonymous(self._supabase_client())
        return DirectTransport(self._db_pool(), role="anon", claims={"role": "anon"})

    def _generator(self) -> Generator:
        transport, storage, user_id = self._user()
        return Generator(
            transport,
            storage,
            GenerationsRepo(transport, storage),
            user_id=user_id,
            retry_wait=self.settings.model_timeout,
        )

    def model(self, name: str | None = None) -> ImageModel:
        """The image model ``name`` (default: the configured one)."""
        from genvault._model_factory import make_model

        image_model: ImageModel = make_model(self.settings, name)
        return image_model

    def check_prompt(self, prompt: str) -> str:
        """The prompt as it is saved (trimmed); InvalidInput saying what to change if
        it cannot be used. Nothing is reserved or sent: check before spending."""
        return _validate.prompt(prompt)

    recipe = make_recipe
    """What :meth:`create` would make, checked, with nothing reserved (see make_recipe)."""

    def make(
        self,
        recipe: Recipe,
        *,
        index: int = 0,
        idempotency_key: str | None = None,
        on_status: StatusCallback | None = None,
    ) -> Generation:
        """Make image ``index`` of a :meth:`recipe`'s batch and save it (one credit)."""
        return self._generator().create(
            recipe.model,
            recipe.prompt,
            aspect_ratio=recipe.aspect_ratio,
            seed=recipe.seed_at(index),
            idempotency_key=idempotency_key,
            on_status=on_status,
        )

    def create(
        self,
        prompt: str | None = None,
        *,
        model: str | ImageModel | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        idempotency_key: str | None = None,
        on_status: StatusCallback | None = None,
        template: str | None = None,
        values: Mapping[str, str] | None = None,
    ) -> Generation:
        """Generate an image from ``prompt`` and save it to the history (one credit).

        ``model`` is a model name (default: the configured one) or an ImageModel.
        With ``template``, the prompt (and, unless given here, the model and
        settings) come from that saved template, its placeholders filled from
        ``values`` (see :meth:`recipe`).
        """
        made = self.recipe(
            prompt,
            template=template,
            values=values,
            model=model,
            aspect_ratio=aspect_ratio,
            seed=seed,
        )
        return self.make(made, idempotency_key=idempotency_key, on_status=on_status)

    def save(
        self,
        prompt: str,
        image: bytes,
        *,
        model: str = "upload",
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Generation:
        """Save an image made elsewhere into the history (one credit)."""
        return self._generator().save(
            prompt, image, model=model, params=params, idempotency_key=idempotency_key
        )

    def sweep(self, *, older_than: timedelta | None = None) -> SweepResult:
        """Refund reservations and remove files left behind by crashed generations."""
        return self._generator().sweep(older_than=older_than)

    def export(
        self,
        dest: Path,
        *,
        as_zip: bool = False,
        since: Any = None,
        until: Any = None,
        on_progress: ExportProgress | None = None,
    ) -> ExportResult:
        """Copy the history (images and a manifest) to a folder or a zip file; resumable."""
        return export_history(
            self.generations,
            dest,
            as_zip=as_zip,
            since=since,
            until=until,
            on_progress=on_progress,
        )

    def delete_account(self) -> AccountDeletion:
        """Erase the signed-in user: every stored file and row, verified, then sign out."""
        transport, storage, user_id = self._user()
        erased = erase_account(transport, storage, user_id)
        self._store.clear()
        self._signed_in = None
        return erased

    # -- operators ---------------------------------------------------------
    def admin(self) -> AdminRepo:
        """Operator functions: needs a direct database URL or the service role key."""
        return operator_repo(
            self.settings,
            http_client=self._http_client,
            pool=self._db_pool,
            owner_url=self.database_url,
        )


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
