"""Keyset paging, the one way every list of genvault is read a page at a time.

A page asks the database for one row more than it shows: that row only says
whether another page follows, and the last row shown becomes the opaque cursor
to pass as ``before`` for the next page. :func:`fetch_page` does this for any
kind of row and :func:`walk` reads every page in turn, so no repo repeats it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from genvault._exceptions import InvalidInput

__all__ = ["MAX_PAGE", "Cursor", "Page", "check_page_size", "fetch_page", "walk"]

MAX_PAGE = 500
"""The largest page. The hosted API returns at most 1,000 rows (db-max-rows) of a
call, and a page asks for one row more than it shows, to know whether another
page follows: a larger page could lose that row and stop the paging early."""

T = TypeVar("T")
K = TypeVar("K", bound="Keyed")
Row = Mapping[str, Any]


class Keyed(Protocol):
    """A row that can mark where a page ends: its time and id."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's (created_at, id), and for the
    "starred first" order whether that row was starred."""

    created_at: datetime
    id: str
    starred: bool | None = None

    def encode(self) -> str:
        """An opaque, URL-safe token to hand back as ``before``."""
        raw = f"{self.created_at.astimezone(UTC).isoformat()}|{self.id}"
        if self.starred is not None:
            raw += "|1" if self.starred else "|0"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token made by :meth:`encode`; InvalidInput if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            stamp, ident, *rest = raw.split("|")
            if len(rest) > 1 or (rest and rest[0] not in ("0", "1")):
                raise ValueError(raw)
            starred = (rest[0] == "1") if rest else None
            return cls(datetime.fromisoformat(stamp), str(uuid.UUID(ident)), starred)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"malformed page cursor: {token[:40]!r}",
                hint="pass the cursor printed under the previous page, unchanged",
            ) from exc


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first unless its filter says otherwise."""

    items: list[T]
    next_cursor: str | None
    """Pass as ``before`` for the next page; None on the last page."""


def check_page_size(value: int) -> int:
    """A page size from 1 to :data:`MAX_PAGE`; InvalidInput otherwise."""
    if not 1 <= value <= MAX_PAGE:
        raise InvalidInput(
            f"the limit {value} is out of range", hint=f"use a number from 1 to {MAX_PAGE}"
        )
    return value


def _mark(item: Keyed) -> Cursor:
    return Cursor(item.created_at, item.id)


def fetch_page(
    rows: Callable[[int, Cursor | None], list[Row]],
    parse: Callable[[Row], K],
    *,
    limit: int,
    before: str | None,
    mark: Callable[[K], Cursor] = _mark,
) -> Page[K]:
    """One page: ``rows(limit + 1, cursor)`` asks the database, ``parse`` builds each item.

    ``before`` is the previous page's cursor (None for the first page); ``mark``
    makes the cursor of the last item shown, when another page follows.
    """
    check_page_size(limit)
    found = rows(limit + 1, Cursor.decode(before) if before else None)
    items = [parse(row) for row in found[:limit]]
    more = len(found) > limit
    return Page(items, mark(items[-1]).encode() if more else None)


def walk(fetch: Callable[[str | None], Page[T]], before: str | None = None) -> Iterator[T]:
    """Every item of every page from ``before`` on; ``fetch(cursor)`` reads one page."""
    while True:
        page = fetch(before)
        yield from page.items
        if page.next_cursor is None:
            return
        before = page.next_cursor
