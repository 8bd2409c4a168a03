"""The history's filters as they travel in a page's address, and back.

A filtered view is a plain GET address, so it can be bookmarked and reloaded:

    /history?q=fox&from=2025-03-01&to=2025-03-31&model=genvault/offline
            &starred=1&collection=<id>&tag=snow&tag=winter&sort=oldest

Dates are whole days in this machine's time zone, both ends included. Values
are checked here only as far as the form needs; the library checks the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from genvault import HistoryFilter, InvalidInput

__all__ = ["SORT_LABELS", "Filters"]

SORT_LABELS = {"newest": "Newest first", "oldest": "Oldest first", "starred": "Starred first"}
MAX_TAG_FILTERS = 20


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{value[:20]!r} is not a date", hint=f"give the {what} date as YYYY-MM-DD"
        ) from None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


@dataclass(frozen=True)
class Filters:
    """What the filter form holds, as typed."""

    q: str = ""
    date_from: str = ""
    date_to: str = ""
    model: str = ""
    starred: bool = False
    collection: str = ""
    tags: tuple[str, ...] = ()
    sort: str = "newest"

    @classmethod
    def from_query(cls, params: QueryParams) -> Filters:
        """The filters of a page address; InvalidInput for a value that cannot be one."""
        sort = params.get("sort") or "newest"
        if sort not in HistoryFilter.SORTS:
            raise InvalidInput(f"unknown order {sort[:20]!r}", hint="use newest, oldest or starred")
        tags: list[str] = []
        for raw in params.getlist("tag"):
            tag = raw.strip().lower()
            if tag and tag not in tags:
                tags.append(tag)
        if len(tags) > MAX_TAG_FILTERS:
            raise InvalidInput("filter by at most 20 tags", hint="remove some tags")
        made = cls(
            q=(params.get("q") or "").strip(),
            date_from=(params.get("from") or "").strip(),
            date_to=(params.get("to") or "").strip(),
            model=(params.get("model") or "").strip(),
            starred=params.get("starred") in ("1", "on", "true"),
            collection=(params.get("collection") or "").strip(),
            tags=tuple(tags),
            sort=sort,
        )
        made.where()  # refuse a bad date now, before anything is loaded
        return made

    def where(self) -> HistoryFilter:
        """The library's filter for these values."""
        start = _day(self.date_from, "from")
        end = _day(self.date_to, "to")
        if start and end and start > end:
            raise InvalidInput(
                "the date range is empty", hint="the “from” date must not come after “to”"
            )
        return HistoryFilter(
            text=self.q or None,
            created_from=_local_midnight(start) if start else None,
            created_to=_local_midnight(end + timedelta(days=1)) if end else None,
            model=self.model or None,
            starred=self.starred,
            collection_id=self.collection or None,
            tags=self.tags,
            sort=self.sort,
        )

    @property
    def narrowed(self) -> bool:
        """True when anything beyond the order is chosen."""
        return replace(self, sort="newest") != Filters()

    def pairs(self) -> list[tuple[str, str]]:
        """The address's query, leaving out what is at its default."""
        out: list[tuple[str, str]] = []
        for name, value in (
            ("q", self.q),
            ("from", self.date_from),
            ("to", self.date_to),
            ("model", self.model),
            ("starred", "1" if self.starred else ""),
            ("collection", self.collection),
        ):
            if value:
                out.append((name, value))
        out.extend(("tag", tag) for tag in self.tags)
        if self.sort != "newest":
            out.append(("sort", self.sort))
        return out

    def url(self, path: str = "/history", *, before: str | None = None) -> str:
        """``path`` with these filters (and a page cursor) in its query."""
        pairs = self.pairs()
        if before:
            pairs.append(("before", before))
        return f"{path}?{urlencode(pairs)}" if pairs else path

    def toggle_tag(self, tag: str) -> str:
        """This view's address with ``tag`` added to the filter, or taken out of it."""
        tags = tuple(t for t in self.tags if t != tag) if tag in self.tags else (*self.tags, tag)
        return replace(self, tags=tags).url()
