"""Sharing: with other users (read-only for them), and public links that expire.

Like the history, each method is one call of a SQL function (see
database/organising.sql): Postgres decides who may see what, this module
shapes arguments and results and reads the shared images from storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound, StorageFailed
from genvault._lookup import only_match, parse_id, pick
from genvault._paging import MAX_PAGE, Cursor, Page, fetch_page, walk
from genvault._records import PublicLink, Share, SharedGeneration, SharedWithMe
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["SharingRepo", "open_link", "read_shared"]

_TOKEN = re.compile(r"^[0-9a-f]{64}$")


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
    ) -> Page[SharedGeneration]:
        """Generations shared with the user (all, or one share's), newest first."""
        share = None if share_id is None else _validate.generation_id(share_id, what="share id")

        def rows(size: int, cursor: Cursor | None) -> Any:
            return self._transport.rpc(
                "shared_generations",
                {
                    "share_id": share,
                    "page_size": size,
                    "cursor_created_at": cursor.created_at if cursor else None,
                    "cursor_id": cursor.id if cursor else None,
                },
            )

        return fetch_page(rows, SharedGeneration.from_row, limit=limit, before=before)

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

    def resolve(self, value: str) -> SharedGeneration:
        """A generation shared with the user, by full id or 8+ character prefix."""
        full, prefix = parse_id(value, "generation id", "gen shared")
        if full is not None:
            return self.get(full)
        every = walk(lambda cursor: self.generations(limit=MAX_PAGE, before=cursor))
        match = only_match(every, lambda g: g.id, value, prefix, "generation id")
        if match is None:
            raise NotFound(
                f"nothing shared with you has an id starting with {value!r}",
                hint="list what is shared with you with `gen shared`",
            )
        return match

    def resolve_share(self, value: str) -> Share:
        """The share of the user's with this id, or whose id starts with these 8+ characters."""
        return pick(self.shares(), _id, value, what="share", listed_by="gen share list")

    def resolve_received(self, value: str) -> SharedWithMe:
        """What another user shared with the user, by its share id or 8+ characters of it."""
        found = self.shared_with_me()
        return pick(found, _id, value, what="share", listed_by="gen share list --with-me")

    def resolve_link(self, value: str) -> PublicLink:
        """The user's public link with this id, or whose id starts with these 8+ characters."""
        return pick(self.links(), _id, value, what="link", listed_by="gen link list")

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


def _id(item: Share | SharedWithMe | PublicLink) -> str:
    return item.id


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
