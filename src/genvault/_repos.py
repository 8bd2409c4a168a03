"""Reading and managing a user's history and credits.

``GenerationsRepo`` and ``CreditsRepo`` are what the CLI and the web page use.
Each method is one call of a SQL function through a :class:`Transport`, so
Postgres (row level security and the functions' own checks) decides what the
user may see and change; these classes only shape arguments and results.
"""

from __future__ import annotations

import builtins
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound, StorageFailed
from genvault._models import (
    SORTS,
    Cursor,
    DeleteOutcome,
    Generation,
    HistoryFilter,
    LedgerEntry,
    Page,
    TagCount,
)
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["CreditsRepo", "GenerationsRepo"]

_PATH_CHUNK = 500


class GenerationsRepo:
    """The signed-in user's history: list, get, search, delete, download."""

    def __init__(self, transport: Transport, storage: Storage) -> None:
        self._transport = transport
        self._storage = storage

    def _page(self, fn: str, args: dict[str, Any], limit: int, before: str | None) -> Page:
        _validate.page_size(limit)
        cursor = Cursor.decode(before) if before else None
        rows = self._transport.rpc(
            fn,
            {
                **args,
                "page_size": limit + 1,
                "before_created_at": cursor.created_at if cursor else None,
                "before_id": cursor.id if cursor else None,
            },
        )
        items = [Generation.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = Cursor(items[-1].created_at, items[-1].id).encode() if more else None
        return Page(items, next_cursor)

    def list(self, *, limit: int = 50, before: str | None = None) -> Page:
        """One page of history, newest first. ``before`` is a previous page's cursor."""
        return self._page("list_generations", {}, limit, before)

    def find(
        self, where: HistoryFilter | None = None, *, limit: int = 50, before: str | None = None
    ) -> Page:
        """One page of the history (or the trash) under ``where``'s filters and order.

        ``before`` is the previous page's cursor, from the same filter.
        """
        where = where or HistoryFilter()
        _validate.page_size(limit)
        if where.sort not in SORTS:
            raise InvalidInput(
                f"unknown order {where.sort!r}", hint="use one of: " + ", ".join(SORTS)
            )
        if where.text is not None:
            _check_search_text(where.text)
        if where.model is not None:
            _validate.text(where.model, "model filter")
        if where.created_from and where.created_to and where.created_from >= where.created_to:
            raise InvalidInput(
                "the date range is empty: the start must come before the end",
                hint="swap the two dates, or leave one of them out",
            )
        wanted = _validate.tags(where.tags) if where.tags else None
        cursor = Cursor.decode(before) if before else None
        if cursor is not None and (where.sort == "starred") != (cursor.starred is not None):
            raise InvalidInput(
                "this cursor belongs to a page in another order",
                hint="start again from the first page",
            )
        rows = self._transport.rpc(
            "find_generations",
            {
                "page_size": limit + 1,
                "sort": where.sort,
                "cursor_created_at": cursor.created_at if cursor else None,
                "cursor_id": cursor.id if cursor else None,
                "cursor_starred": cursor.starred if cursor else None,
                "search_text": where.text,
                "created_from": where.created_from,
                "created_to": where.created_to,
                "with_model": where.model,
                "starred_only": where.starred,
                "collection_id": (
                    _validate.generation_id(where.collection_id, what="collection id")
                    if where.collection_id
                    else None
                ),
                "with_tags": wanted,
                "in_trash": where.trash,
            },
        )
        items = [Generation.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = None
        if more:
            last = items[-1]
            starred = last.starred if where.sort == "starred" else None
            next_cursor = Cursor(last.created_at, last.id, starred).encode()
        return Page(items, next_cursor)

    def refresh(self, *, limit: int = 50) -> Page:
        """The newest page again (after a create or delete elsewhere)."""
        return self.list(limit=limit)

    def iter_all(self, *, page_size: int = 200, before: str | None = None) -> Iterator[Generation]:
        """Every generation, newest first, fetched a page at a time."""
        while True:
            page = self.list(limit=page_size, before=before)
            yield from page.items
            if page.next_cursor is None:
                return
            before = page.next_cursor

    def search(self, text: str, *, limit: int = 50, before: str | None = None) -> Page:
        """Generations whose prompt contains ``text`` (any case; %, _ and \\ are literal)."""
        _check_search_text(text)
        return self._page("search_generations", {"search_text": text}, limit, before)

    def get(self, generation_id: str) -> Generation:
        """One generation; NotFound if the user has none with that id."""
        gid = _validate.generation_id(generation_id)
        rows = self._transport.rpc("get_generation", {"generation_id": gid})
        if not rows:
            raise NotFound(f"no generation {gid}", hint="list your ids with `gen list`")
        return Generation.from_row(rows[0])

    def delete(self, generation_ids: Iterable[str]) -> builtins.list[DeleteOutcome]:
        """Delete generations and their stored files; reports each id's outcome.

        Ids of other users are reported exactly like unknown ids (not deleted).
        """
        ids = [_validate.generation_id(g) for g in generation_ids]
        if not ids:
            return []
        rows = self._transport.rpc("delete_generations", {"generation_ids": ids})
        gone = {str(r["id"]) for r in rows}
        paths = sorted({p for r in rows for p in r["removable_paths"] or ()})
        if paths:
            self._storage.delete(paths)
        return [DeleteOutcome(str(i), str(i) in gone) for i in ids]

    def star(self, generation_ids: Iterable[str], *, starred: bool = True) -> builtins.list[str]:
        """Star (or unstar) generations; returns the ids that are the user's."""
        ids = _ids(generation_ids)
        rows = self._transport.rpc("star_generations", {"generation_ids": ids, "starred": starred})
        return _returned_ids(rows, "star_generations")

    def trash(self, generation_ids: Iterable[str]) -> builtins.list[str]:
        """Move generations to the trash (restorable for 30 days); returns the ids moved."""
        rows = self._transport.rpc("trash_generations", {"generation_ids": _ids(generation_ids)})
        return _returned_ids(rows, "trash_generations")

    def restore(self, generation_ids: Iterable[str]) -> builtins.list[str]:
        """Bring generations back from the trash; returns the ids restored."""
        rows = self._transport.rpc("restore_generations", {"generation_ids": _ids(generation_ids)})
        return _returned_ids(rows, "restore_generations")

    def empty_trash(self) -> int:
        """Delete everything in the trash for good, stored files too; returns how many."""
        removed = 0
        while True:
            rows = self._transport.rpc("empty_trash", {"max_rows": 1000})
            if not rows:
                return removed
            paths = sorted({p for r in rows for p in r["removable_paths"] or ()})
            if paths:
                self._storage.delete(paths)
            removed += len(rows)

    def tag(self, generation_ids: Iterable[str], tags: Iterable[str]) -> int:
        """Add tags to generations; returns how many tags were new."""
        names = _validate.tags(tags)
        return int(
            self._transport.rpc(
                "tag_generations",
                {"generation_ids": _ids(generation_ids), "tags": names},
                scalar=True,
            )
            or 0
        )

    def untag(self, generation_ids: Iterable[str], tags: Iterable[str]) -> int:
        """Remove tags from generations; returns how many were removed."""
        names = _validate.tags(tags)
        return int(
            self._transport.rpc(
                "untag_generations",
                {"generation_ids": _ids(generation_ids), "tags": names},
                scalar=True,
            )
            or 0
        )

    def tags(self) -> builtins.list[TagCount]:
        """The user's tags, most used first, with how many generations carry each."""
        rows = self._transport.rpc("my_tags", {})
        return [TagCount(str(r["tag"]), int(r["images"])) for r in rows]

    def read_image(self, generation: Generation | str, *, thumbnail: bool = False) -> bytes:
        """The stored image (or its thumbnail) as bytes."""
        gen = generation if isinstance(generation, Generation) else self.get(generation)
        path = gen.thumbnail_url if thumbnail and gen.thumbnail_url else gen.image_url
        if not gen.is_stored:
            raise StorageFailed(
                f"generation {gen.id} points at an outside URL, not genvault's storage",
                hint=f"open {path} directly",
            )
        return self._storage.get(path)

    def image_url(self, generation: Generation | str, *, expires_in: int = 3600) -> str:
        """A URL that shows the full image: signed (hosted) or file:// (local)."""
        gen = generation if isinstance(generation, Generation) else self.get(generation)
        return (
            self._storage.url(gen.image_url, expires_in=expires_in)
            if gen.is_stored
            else gen.image_url
        )

    def download(self, generation_id: str, dest: Path) -> Path:
        """Write the full image to ``dest`` (a file, or a folder to put it in)."""
        gen = self.get(generation_id)
        data = self.read_image(gen)
        target = dest / f"{gen.id}.webp" if dest.is_dir() else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        shutil.move(tmp.name, target)
        return target

    def unreferenced(self, paths: builtins.list[str]) -> builtins.list[str]:
        """Which of these stored paths no generation of the user points at."""
        kept: set[str] = set()
        for start in range(0, len(paths), _PATH_CHUNK):
            chunk = paths[start : start + _PATH_CHUNK]
            rows = self._transport.rpc("referenced_paths", {"paths": chunk})
            kept.update(str(r["path"]) for r in rows)
        return [p for p in paths if p not in kept]

    def stats(self, *, days: int = 30, top: int = 5) -> dict[str, Any]:
        """Personal figures: totals, bytes, credits, per day and week, top prompts."""
        _validate.in_range(days, "days", 1, 3660)
        _validate.in_range(top, "top", 1, 100)
        result: dict[str, Any] = self._transport.rpc(
            "my_stats", {"days": days, "top": top}, scalar=True
        )
        return result


def _check_search_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("the search text is empty", hint="give a word from the prompt")
    if len(text) > _validate.MAX_PROMPT:
        raise InvalidInput(
            "the search text is too long", hint=f"use at most {_validate.MAX_PROMPT} characters"
        )
    if "\x00" in text:
        raise InvalidInput("the search text contains a NUL character", hint="remove it")
    _validate.text(text, "search text")


def _ids(generation_ids: Iterable[str]) -> builtins.list[uuid.UUID]:
    ids = [_validate.generation_id(g) for g in generation_ids]
    if len(ids) > 1000:
        raise InvalidInput("too many ids at once", hint="give at most 1000")
    return ids


def _returned_ids(rows: builtins.list[Any], fn: str) -> builtins.list[str]:
    """The ids a set-returning SQL function of uuids gave back (either transport)."""
    out: builtins.list[str] = []
    for row in rows:
        if isinstance(row, dict):
            out.append(str(row[fn] if fn in row else next(iter(row.values()))))
        else:
            out.append(str(row))
    return out


class CreditsRepo:
    """The signed-in user's credit balance and its history."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def balance(self) -> int:
        """Credits left."""
        return int(self._transport.rpc("my_credits", {}, scalar=True) or 0)

    def has_credits(self, needed: int = 1) -> bool:
        """Whether at least ``needed`` credits are left."""
        return self.balance() >= needed

    def ledger(self, *, limit: int = 20, since: datetime | None = None) -> list[LedgerEntry]:
        """The most recent changes to the balance, newest first."""
        _validate.page_size(limit)
        rows = self._transport.rpc("my_ledger", {"max_rows": limit, "since": since})
        return [LedgerEntry.from_row(r) for r in rows]
