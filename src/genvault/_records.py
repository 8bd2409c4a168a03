"""The records genvault returns: plain frozen dataclasses, parsed from either transport.

PostgREST answers with JSON (timestamps and ids as strings); psycopg with Python
values. ``from_row`` accepts both, so callers never see the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

__all__ = [
    "Collection",
    "DeleteOutcome",
    "Generation",
    "HistoryFilter",
    "LedgerEntry",
    "PublicLink",
    "RenderedTemplate",
    "Share",
    "SharedGeneration",
    "SharedWithMe",
    "TagCount",
    "Template",
]

SORTS = ("newest", "oldest", "starred")


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _opt_ts(value: Any) -> datetime | None:
    return None if value is None else _ts(value)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


@dataclass(frozen=True)
class Generation:
    """One saved image and where it came from."""

    id: str
    user_id: str
    prompt: str
    image_url: str
    created_at: datetime
    updated_at: datetime
    model: str = "unknown"
    params: dict[str, Any] = field(default_factory=dict)
    thumbnail_url: str | None = None
    image_bytes: int | None = None
    image_sha256: str | None = None
    starred: bool = False
    trashed_at: datetime | None = None
    """When it was moved to the trash; None while it is in the history."""
    tags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Generation:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            user_id=str(row["user_id"]),
            prompt=str(row["prompt"]),
            image_url=str(row["image_url"]),
            created_at=_ts(row["created_at"]),
            updated_at=_ts(row["updated_at"]),
            model=str(row.get("model") or "unknown"),
            params=_json(row.get("params")),
            thumbnail_url=row.get("thumbnail_url"),
            image_bytes=None if row.get("image_bytes") is None else int(row["image_bytes"]),
            image_sha256=row.get("image_sha256"),
            starred=bool(row.get("starred") or False),
            trashed_at=_opt_ts(row.get("trashed_at")),
            tags=tuple(row.get("tags") or ()),
        )

    @property
    def is_stored(self) -> bool:
        """True when the image is in genvault's storage (a path), not at an outside URL."""
        return not self.image_url.startswith("https://")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (ISO 8601 times)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "prompt": self.prompt,
            "image_url": self.image_url,
            "thumbnail_url": self.thumbnail_url,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "model": self.model,
            "params": self.params,
            "image_bytes": self.image_bytes,
            "image_sha256": self.image_sha256,
            "starred": self.starred,
            "trashed_at": None if self.trashed_at is None else self.trashed_at.isoformat(),
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class LedgerEntry:
    """One change to a credit balance."""

    id: str
    delta: int
    reason: str
    created_at: datetime
    generation_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerEntry:
        """Build from a row of either transport."""
        gen = row.get("generation_id")
        return cls(
            id=str(row["id"]),
            delta=int(row["delta"]),
            reason=str(row["reason"]),
            created_at=_ts(row["created_at"]),
            generation_id=None if gen is None else str(gen),
        )


@dataclass(frozen=True)
class DeleteOutcome:
    """What happened to one id given to delete."""

    id: str
    deleted: bool
    """False when there was no such generation of this user."""


@dataclass(frozen=True)
class HistoryFilter:
    """Which generations a history page shows, and in what order.

    Every field narrows the page (they combine with AND); the default is the
    whole history, newest first.
    """

    text: str | None = None
    """Prompt contains this (any case)."""
    created_from: datetime | None = None
    """Made at or after this time."""
    created_to: datetime | None = None
    """Made before this time."""
    model: str | None = None
    starred: bool = False
    """Starred only."""
    collection_id: str | None = None
    tags: tuple[str, ...] = ()
    """Carries every one of these tags."""
    sort: str = "newest"
    """newest, oldest, or starred (starred first, then newest)."""
    trash: bool = False
    """The trash instead of the history."""

    SORTS: ClassVar[tuple[str, ...]] = SORTS
    """The orders ``sort`` may name."""

    def is_plain(self) -> bool:
        """True for the whole history newest first (the plain list)."""
        return self == HistoryFilter()


@dataclass(frozen=True)
class TagCount:
    """One of the user's tags and how many generations in the history carry it."""

    tag: str
    images: int


@dataclass(frozen=True)
class Collection:
    """A named group of the user's generations."""

    id: str
    name: str
    images: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Collection:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            name=str(row["name"]),
            images=int(row.get("images") or 0),
            created_at=_ts(row["created_at"]),
            updated_at=_ts(row["updated_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "name": self.name,
            "images": self.images,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Share:
    """Something the user shared with another user."""

    id: str
    recipient_email: str
    created_at: datetime
    generation_id: str | None = None
    collection_id: str | None = None
    collection_name: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Share:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            recipient_email=str(row.get("recipient_email") or ""),
            created_at=_ts(row["created_at"]),
            generation_id=_opt_str(row.get("generation_id")),
            collection_id=_opt_str(row.get("collection_id")),
            collection_name=row.get("collection_name"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "recipient_email": self.recipient_email,
            "generation_id": self.generation_id,
            "collection_id": self.collection_id,
            "collection_name": self.collection_name,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class SharedWithMe:
    """Something another user shared with the signed-in user."""

    id: str
    shared_by: str
    images: int
    created_at: datetime
    generation_id: str | None = None
    collection_id: str | None = None
    collection_name: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SharedWithMe:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            shared_by=str(row.get("shared_by") or ""),
            images=int(row.get("images") or 0),
            created_at=_ts(row["created_at"]),
            generation_id=_opt_str(row.get("generation_id")),
            collection_id=_opt_str(row.get("collection_id")),
            collection_name=row.get("collection_name"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "shared_by": self.shared_by,
            "images": self.images,
            "generation_id": self.generation_id,
            "collection_id": self.collection_id,
            "collection_name": self.collection_name,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class SharedGeneration:
    """A read-only copy of someone else's generation: shared, or behind a public link."""

    id: str
    prompt: str
    image_url: str
    created_at: datetime
    shared_by: str
    model: str = "unknown"
    thumbnail_url: str | None = None
    image_bytes: int | None = None
    image_sha256: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    via_share: str | None = None
    collection_name: str | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SharedGeneration:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            prompt=str(row["prompt"]),
            image_url=str(row["image_url"]),
            created_at=_ts(row["created_at"]),
            shared_by=str(row.get("shared_by") or ""),
            model=str(row.get("model") or "unknown"),
            thumbnail_url=row.get("thumbnail_url"),
            image_bytes=None if row.get("image_bytes") is None else int(row["image_bytes"]),
            image_sha256=row.get("image_sha256"),
            params=_json(row.get("params")),
            via_share=_opt_str(row.get("via_share")),
            collection_name=row.get("collection_name"),
            expires_at=_opt_ts(row.get("expires_at")),
        )

    @property
    def is_stored(self) -> bool:
        """True when the image is in genvault's storage (a path), not at an outside URL."""
        return not self.image_url.startswith("https://")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "prompt": self.prompt,
            "image_url": self.image_url,
            "thumbnail_url": self.thumbnail_url,
            "created_at": self.created_at.isoformat(),
            "model": self.model,
            "image_bytes": self.image_bytes,
            "shared_by": self.shared_by,
            "via_share": self.via_share,
            "collection_name": self.collection_name,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class PublicLink:
    """A link that shows a generation or a collection to anyone who has its token."""

    id: str
    expires_at: datetime
    active: bool = True
    token: str | None = None
    """Only when the link has just been made: it is not kept anywhere."""
    generation_id: str | None = None
    collection_id: str | None = None
    collection_name: str | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PublicLink:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            expires_at=_ts(row["expires_at"]),
            active=bool(row.get("active", True)),
            token=row.get("token"),
            generation_id=_opt_str(row.get("generation_id")),
            collection_id=_opt_str(row.get("collection_id")),
            collection_name=row.get("collection_name"),
            created_at=_opt_ts(row.get("created_at")),
            revoked_at=_opt_ts(row.get("revoked_at")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "token": self.token,
            "generation_id": self.generation_id,
            "collection_id": self.collection_id,
            "collection_name": self.collection_name,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "active": self.active,
        }


@dataclass(frozen=True)
class Template:
    """A saved prompt with {placeholders}, and the settings to use with it."""

    id: str
    name: str
    prompt: str
    placeholders: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Template:
        """Build from a row of either transport."""
        return cls(
            id=str(row["id"]),
            name=str(row["name"]),
            prompt=str(row["prompt"]),
            placeholders=tuple(row.get("placeholders") or ()),
            created_at=_ts(row["created_at"]),
            updated_at=_ts(row["updated_at"]),
            model=row.get("model"),
            params=_json(row.get("params")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "placeholders": list(self.placeholders),
            "model": self.model,
            "params": self.params,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class RenderedTemplate:
    """A template with its placeholders filled in, ready to generate from."""

    prompt: str
    model: str | None
    params: dict[str, Any]
