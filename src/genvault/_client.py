"""The entry point: a :class:`Client` connects, signs in, and hands out the repos.

Which backend it uses follows from :class:`Settings`: the embedded PostgreSQL
with local files by default, any PostgreSQL through DATABASE_URL, or a hosted
Supabase project through SUPABASE_URL. Whichever it is, every call runs as the
signed-in user and the database decides what that user may do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from genvault import _validate
from genvault._account import AccountDeletion, erase_account
from genvault._admin import AdminRepo
from genvault._backends import Backends
from genvault._collections import CollectionsRepo
from genvault._credits import CreditsRepo
from genvault._exceptions import (
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
from genvault._signin import SignIn
from genvault._storage import LocalStorage, Storage
from genvault._templates import TemplatesRepo
from genvault._transport import Transport

__all__ = ["Client"]


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
        self._http_client = http_client
        self._backends = Backends(self.settings, http_client=http_client)
        self._signing = SignIn(
            self.settings,
            self._store,
            self._backends,
            access_token=access_token,
            http_client=http_client,
        )
        self._signed_in: tuple[Transport, Storage, str, float] | None = None
        # One Client may serve several threads (the web gallery does): the
        # signed-in user's transport is made once, under this lock.
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Release database connections."""
        with self._lock:
            self._signed_in = None
            self._backends.close()

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
        return self._backends.database_url()

    def _db_pool(self) -> Any:
        return self._backends.pool()

    @property
    def _pool(self) -> Any:
        """The open connection pool, or None while no call has needed one."""
        return self._backends.opened_pool

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
        access = self._signing.access()
        transport, storage = self._backends.for_user(access.claims, access.token)
        return transport, storage, access.user_id, access.expires_at

    # -- sessions ----------------------------------------------------------
    def session(self) -> Session | None:
        """Who is signed in on this profile (None when nobody is)."""
        return self._store.load()

    def sign_in_local(self, name: str) -> Session:
        """Sign in as a local user of the embedded or a plain PostgreSQL database.

        The user is created, with the starter credits, the first time the name is used.
        """
        session = self._signing.local(name)
        self._signed_in = None
        return session

    def sign_in(self, email: str, password: str) -> Session:
        """Sign in to the hosted project with email and password."""
        session = self._signing.with_password(email, password)
        self._signed_in = None
        return session

    def send_code(self, email: str) -> None:
        """Email a one-time sign-in code (hosted)."""
        self._signing.send_code(email)

    def verify_code(self, email: str, code: str) -> Session:
        """Sign in with the emailed one-time code (hosted)."""
        session = self._signing.verify_code(email, code)
        self._signed_in = None
        return session

    def sign_out(self) -> None:
        """Sign out: revoke the hosted session, forget the saved one."""
        self._signing.sign_out()
        self._signed_in = None

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
        return self._backends.for_visitor()

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
        transport, storage, owner_url = self._backends.for_operator()
        return AdminRepo(transport, storage, owner_url=owner_url)
