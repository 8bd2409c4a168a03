"""Collections, sharing and prompt templates of the signed-in user.

Like the history, each method is one call of a SQL function (see
database/organising.sql): Postgres decides what the user may see and change,
these classes shape arguments and results. Favourites, tags and the trash live
on :class:`genvault.GenerationsRepo`, beside the history they filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound, StorageFailed
from genvault._models import (
    Collection,
    Cursor,
    PublicLink,
    RenderedTemplate,
    Share,
    SharedGeneration,
    SharedWithMe,
    Template,
)
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["CollectionsRepo", "SharedPage", "SharingRepo", "TemplatesRepo", "open_link"]

_TOKEN = re.compile(r"^[0-9a-f]{64}$")


class CollectionsRepo:
    """Named groups of the user's generations."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self) -> list[Collection]:
        """The user's collections by name, with how many images each holds."""
        return [Collection.from_row(r) for r in self._transport.rpc("my_collections", {})]

    def create(self, name: str) -> Collection:
        """A new, empty collection; Conflict if the user has one of that name."""
        rows = self._transport.rpc("create_collection", {"name": _name(name)})
        return Collection.from_row({**rows[0], "images": 0})

    def rename(self, collection: str, name: str) -> Collection:
        """Give a collection (by id or name) a new name."""
        current = self.resolve(collection)
        rows = self._transport.rpc(
            "rename_collection", {"collection_id": current.id, "name": _name(name)}
        )
        return Collection.from_row({**rows[0], "images": current.images})

    def delete(self, collection: str) -> bool:
        """Delete a collection (by id or name); its images stay in the history."""
        cid = self.resolve(collection).id
        return bool(self._transport.rpc("delete_collection", {"collection_id": cid}, scalar=True))

    def add(self, collection: str, generation_ids: Iterable[str]) -> int:
        """Put generations in a collection; returns how many were not in it yet."""
        cid = self.resolve(collection).id
        ids = [_validate.generation_id(g) for g in generation_ids]
        return int(
            self._transport.rpc(
                "add_to_collection", {"collection_id": cid, "generation_ids": ids}, scalar=True
            )
            or 0
        )

    def remove(self, collection: str, generation_ids: Iterable[str]) -> int:
        """Take generations out of a collection; returns how many were in it."""
        cid = self.resolve(collection).id
        ids = [_validate.generation_id(g) for g in generation_ids]
        return int(
            self._transport.rpc(
                "remove_from_collection", {"collection_id": cid, "generation_ids": ids}, scalar=True
            )
            or 0
        )

    def resolve(self, collection: str) -> Collection:
        """The user's collection with this id or name (any case); NotFound otherwise."""
        wanted = _validate.text(str(collection), "collection name").strip()
        if not wanted:
            raise InvalidInput("no collection given", hint="give a collection's name or id")
        found = self.list()
        for item in found:
            if item.id == wanted.lower() or item.name.lower() == wanted.lower():
                return item
        raise NotFound(
            f"no collection {wanted!r}", hint="list your collections with `gen collection list`"
        )


def _name(name: str) -> str:
    clean = _validate.text(str(name), "collection name").strip()
    if not clean:
        raise InvalidInput("a collection needs a name", hint="give a name, e.g. Favourites")
    if len(clean) > 100:
        raise InvalidInput("the collection name is too long", hint="use at most 100 characters")
    return clean


class SharedPage:
    """One page of what others shared with the user, newest first."""

    def __init__(self, items: list[SharedGeneration], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor


class SharingRepo:
    """Sharing with other users (read-only for them) and public links that expire."""

    def __init__(self, transport: Transport, storage: Storage) -> None:
        self._transport = transport
        self._storage = storage

    def share(
        self, email: str, *, generation_id: str | None = None, collection_id: str | None = None
    ) -> Share:
        """Let the user with ``email`` see one generation or one collection, read-only."""
        address = _validate.text(str(email), "email address").strip()
        if "@" not in address or len(address) > 320:
            raise InvalidInput(f"{address[:60]!r} is not an email address", hint="e.g. ann@x.org")
        gid, cid = _target(generation_id, collection_id)
        try:
            rows = self._transport.rpc(
                "share_with", {"email": address, "generation_id": gid, "collection_id": cid}
            )
        except InvalidInput as exc:  # sharing with oneself
            if exc.hint:
                raise
            raise InvalidInput(
                exc.message, hint="give the email address of another genvault user", code=exc.code
            ) from exc
        row = rows[0]
        return Share(
            id=str(row["id"]),
            recipient_email=str(row["recipient_email"]),
            created_at=Share.from_row(row).created_at,
            generation_id=None if gid is None else str(gid),
            collection_id=None if cid is None else str(cid),
        )

    def unshare(self, share_id: str) -> bool:
        """End a share at once; False when the user has none with that id."""
        sid = _validate.generation_id(share_id, what="share id")
        return bool(self._transport.rpc("unshare", {"share_id": sid}, scalar=True))

    def shares(self) -> list[Share]:
        """What the user has shared, and with whom, newest first."""
        return [Share.from_row(r) for r in self._transport.rpc("my_shares", {})]

    def shared_with_me(self) -> list[SharedWithMe]:
        """What others have shared with the user, newest first."""
        return [SharedWithMe.from_row(r) for r in self._transport.rpc("shared_with_me", {})]

    def generations(
        self, *, share_id: str | None = None, limit: int = 50, before: str | None = None
    ) -> SharedPage:
        """Generations shared with the user (all, or one share's), newest first."""
        _validate.page_size(limit)
        cursor = Cursor.decode(before) if before else None
        rows = self._transport.rpc(
            "shared_generations",
            {
                "share_id": (
                    None if share_id is None else _validate.generation_id(share_id, what="share id")
                ),
                "page_size": limit + 1,
                "cursor_created_at": cursor.created_at if cursor else None,
                "cursor_id": cursor.id if cursor else None,
            },
        )
        items = [SharedGeneration.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return SharedPage(
            items, Cursor(items[-1].created_at, items[-1].id).encode() if more else None
        )

    def get(self, generation_id: str) -> SharedGeneration:
        """One generation shared with the user; NotFound if none with that id is."""
        gid = _validate.generation_id(generation_id)
        rows = self._transport.rpc("shared_generations", {"page_size": 1, "only_generation": gid})
        if not rows:
            raise NotFound(
                f"nothing shared with you has the id {gid}",
                hint="list what is shared with you with `gen share list --with-me`",
            )
        return SharedGeneration.from_row(rows[0])

    def read_image(self, item: SharedGeneration, *, thumbnail: bool = False) -> bytes:
        """The bytes of a generation shared with the user (or behind a link)."""
        try:
            return read_shared(self._storage, item, thumbnail=thumbnail)
        except NotFound as exc:
            if self._storage.kind != "supabase":
                raise
            # Storage answers "not found" for a file it will not give out: the
            # share has ended, or the project lacks storage_sharing.sql's policy.
            raise StorageFailed(
                f"Supabase Storage does not give out image {item.id} to you: the share "
                f"may have ended, or the project lacks the policy for shared files",
                hint="ask who shared it; an operator applies database/storage_sharing.sql",
                code=exc.code,
            ) from exc

    def create_link(
        self,
        *,
        generation_id: str | None = None,
        collection_id: str | None = None,
        expires_in: timedelta = timedelta(days=7),
    ) -> PublicLink:
        """A public link (its token is in the result, and only there) that expires."""
        if not timedelta(minutes=1) <= expires_in <= timedelta(days=366):
            raise InvalidInput(
                "a link must expire between 1 minute and 366 days from now",
                hint="e.g. --expires 7d",
            )
        gid, cid = _target(generation_id, collection_id)
        rows = self._transport.rpc(
            "create_public_link",
            {"generation_id": gid, "collection_id": cid, "expires_in": expires_in},
        )
        row: Mapping[str, Any] = rows[0]
        return PublicLink.from_row(
            {**row, "generation_id": gid, "collection_id": cid, "active": True}
        )

    def revoke_link(self, link_id: str) -> bool:
        """End a public link at once; False when the user has no open link with that id."""
        lid = _validate.generation_id(link_id, what="link id")
        return bool(self._transport.rpc("revoke_public_link", {"link_id": lid}, scalar=True))

    def links(self) -> list[PublicLink]:
        """The user's public links, newest first, and whether each still opens."""
        return [PublicLink.from_row(r) for r in self._transport.rpc("my_public_links", {})]


def _target(generation_id: str | None, collection_id: str | None) -> tuple[Any, Any]:
    if (generation_id is None) == (collection_id is None):
        raise InvalidInput(
            "share either one generation or one collection",
            hint="give a generation id or --collection NAME, not both",
        )
    if generation_id is not None:
        return _validate.generation_id(generation_id), None
    return None, _validate.generation_id(str(collection_id), what="collection id")


def open_link(transport: Transport, token: str) -> list[SharedGeneration]:
    """What a public link shows (up to 1000 images); NotFound once it is revoked or expired."""
    clean = str(token).strip().rsplit("/", 1)[-1].lower()
    if not _TOKEN.match(clean):
        raise InvalidInput("that is not a genvault link token", hint="copy the whole link")
    rows = transport.rpc("open_public_link", {"token": clean, "page_size": 1000})
    if not rows:
        raise NotFound(
            "this link does not open: it was revoked, it expired, or it never existed",
            hint="ask whoever shared it for a new link",
        )
    return [SharedGeneration.from_row(r) for r in rows]


def read_shared(storage: Storage, item: SharedGeneration, *, thumbnail: bool = False) -> bytes:
    """The stored bytes of a shared generation (the caller has already been allowed it)."""
    path = item.thumbnail_url if thumbnail and item.thumbnail_url else item.image_url
    if not item.is_stored:
        raise StorageFailed(
            f"generation {item.id} points at an outside URL, not genvault's storage",
            hint=f"open {path} directly",
        )
    return storage.get(path)


class TemplatesRepo:
    """Saved prompts with {placeholders}, for `gen create --template`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def save(
        self,
        name: str,
        prompt: str,
        *,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Template:
        """Save (or replace, by name) a template."""
        clean = _validate.text(str(name), "template name").strip()
        if not clean or len(clean) > 100:
            raise InvalidInput("a template needs a name of 1 to 100 characters", hint="e.g. fox")
        if not str(prompt).strip() or len(str(prompt).strip()) > _validate.MAX_PROMPT:
            raise InvalidInput(
                f"a template prompt must be 1 to {_validate.MAX_PROMPT} characters",
                hint='e.g. "a {animal} in the snow"',
            )
        _validate.text(str(prompt), "template prompt")
        if model is not None:
            _validate.text(model, "model name")
        _validate.call_arguments("save_template", {"template_settings": dict(params or {})})
        row = self._transport.rpc(
            "save_template",
            {"name": clean, "prompt": prompt, "model": model, "params": dict(params or {})},
            scalar=True,
        )
        return Template.from_row(row)

    def list(self) -> list[Template]:
        """The user's templates by name."""
        return [Template.from_row(r) for r in self._transport.rpc("my_templates", {})]

    def delete(self, name: str) -> bool:
        """Delete a template by name; False when there was none."""
        clean = _validate.text(str(name), "template name")
        return bool(self._transport.rpc("delete_template", {"name": clean}, scalar=True))

    def render(self, name: str, values: Mapping[str, str]) -> RenderedTemplate:
        """The template's prompt with every {placeholder} filled from ``values``."""
        clean = _validate.text(str(name), "template name")
        filled = {
            _validate.text(str(k), "placeholder name"): _validate.text(str(v), f"value of {{{k}}}")
            for k, v in values.items()
        }
        rows = self._transport.rpc("render_template", {"name": clean, "vals": filled})
        row = rows[0]
        params = row.get("params") or {}
        return RenderedTemplate(
            prompt=str(row["prompt"]),
            model=row.get("model"),
            params=dict(params) if isinstance(params, Mapping) else {},
        )
