"""The rows genvault returns: plain frozen dataclasses, parsed from either transport.

PostgREST answers with JSON (timestamps and ids as strings); psycopg with Python
values. ``from_row`` accepts both, so callers never see the difference.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from genvault._exceptions import InvalidInput

__all__ = ["Cursor", "DeleteOutcome", "Generation", "LedgerEntry", "Page"]


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
        }


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's (created_at, id)."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        """An opaque, URL-safe token to hand back as ``before``."""
        raw = f"{self.created_at.astimezone(UTC).isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token made by :meth:`encode`; InvalidInput if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            stamp, _, ident = raw.partition("|")
            return cls(datetime.fromisoformat(stamp), str(uuid.UUID(ident)))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"malformed page cursor: {token[:40]!r}",
                hint="pass the cursor printed under the previous page, unchanged",
            ) from exc


@dataclass(frozen=True)
class Page:
    """One page of history, newest first."""

    items: list[Generation]
    next_cursor: str | None
    """Pass as ``before`` for the next page; None on the last page."""


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
