"""Reading and managing a user's history: pages, filters, ids, stars, tags, the trash.

``GenerationsRepo`` is what the CLI and the web page use. Each method is one
call of a SQL function through a :class:`Transport`, so Postgres (row level
security and the functions' own checks) decides what the user may see and
change; this class only shapes arguments and results.
"""

from __future__ import annotations

import builtins
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound, StorageFailed
from genvault._lookup import Scope, only_match, parse_id
from genvault._paging import MAX_PAGE, Cursor, Page, fetch_page, walk
from genvault._records import SORTS, DeleteOutcome, Generation, HistoryFilter, TagCount
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["GenerationsRepo"]

_PATH_CHUNK = 500


class GenerationsRepo:
    """The signed-in user's history: list, get, search, delete, download."""

    def __init__(self, transport: Transport, storage: Storage) -> None:
        self._transport = transport
        self._storage = storage

    def _page(
        self, fn: str, args: dict[str, Any], limit: int, before: str | None
    ) -> Page[Generation]:
        def rows(size: int, cursor: Cursor | None) -> Any:
            return self._transport.rpc(
                fn,
                {
                    **args,
                    "page_size": size,
                    "before_created_at": cursor.created_at if cursor else None,
                    "before_id": cursor.id if cursor else None,
                },
            )

        return fetch_page(rows, Generation.from_row, limit=limit, before=before)

    def list(self, *, limit: int = 50, before: str | None = None) -> Page[Generation]:
        """One page of history, newest first. ``before`` is a previous page's cursor."""
        return self._page("list_generations", {}, limit, before)

    def find(
        self, where: HistoryFilter | None = None, *, limit: int = 50, before: str | None = None
    ) -> Page[Generation]:
        """One page of the history (or the trash) under ``where``'s filters and order.

        ``before`` is the previous page's cursor, from the same filter.
        """
        where = where or HistoryFilter()
        args = _filter_args(where)
        by_star = where.sort == "starred"

        def rows(size: int, cursor: Cursor | None) -> Any:
            if cursor is not None and by_star != (cursor.starred is not None):
                raise InvalidInput(
                    "this cursor belongs to a page in another order",
                    hint="start again from the first page",
                )
            return self._transport.rpc(
                "find_generations",
                {
                    **args,
                    "page_size": size,
                    "cursor_created_at": cursor.created_at if cursor else None,
                    "cursor_id": cursor.id if cursor else None,
                    "cursor_starred": cursor.starred if cursor else None,
                },
            )

        def mark(last: Generation) -> Cursor:
            return Cursor(last.created_at, last.id, last.starred if by_star else None)

        return fetch_page(rows, Generation.from_row, limit=limit, before=before, mark=mark)

    def find_all(
        self, where: HistoryFilter | None = None, *, before: str | None = None
    ) -> Page[Generation]:
        """Every page under ``where`` from ``before`` on, as one page (no next cursor)."""
        items = walk(lambda cursor: self.find(where, limit=MAX_PAGE, before=cursor), before)
        return Page(builtins.list(items), None)

    def refresh(self, *, limit: int = 50) -> Page[Generation]:
        """The newest page again (after a create or delete elsewhere)."""
        return self.list(limit=limit)

    def iter_all(self, *, page_size: int = 200, before: str | None = None) -> Iterator[Generation]:
        """Every generation, newest first, fetched a page at a time."""
        return walk(lambda cursor: self.list(limit=page_size, before=cursor), before)

    def search(self, text: str, *, limit: int = 50, before: str | None = None) -> Page[Generation]:
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

    def resolve(self, value: str, *, scope: Scope = "history") -> Generation:
        """The user's generation for a full id or an unambiguous 8+ character prefix.

        InvalidInput for something that is not an id, or a prefix of two ids;
        NotFound when the user has none with that id in ``scope``.
        """
        listed_by = "gen trash" if scope == "trash" else "gen list"
        full, prefix = parse_id(value, "generation id", listed_by)
        gen = self.get(full) if full is not None else self._by_prefix(value, prefix, scope)
        if scope == "history" and gen.trashed_at is not None:
            raise NotFound(
                f"generation {gen.id} is in the trash",
                hint=f"bring it back first with `gen restore {gen.id[:8]}`",
            )
        if scope == "trash" and gen.trashed_at is None:
            raise NotFound(
                f"generation {gen.id} is not in the trash", hint="list the trash with `gen trash`"
            )
        return gen

    def full_id(self, value: str) -> str:
        """The id ``value`` names: a full id as given, or the one generation in the
        history whose id starts with these 8 or more characters."""
        full, prefix = parse_id(value, "generation id", "gen list")
        return full if full is not None else self._by_prefix(value, prefix, "history").id

    def _by_prefix(self, value: str, prefix: str, scope: Scope) -> Generation:
        trash = {"history": False, "trash": True, "any": None}[scope]
        rows = self._transport.rpc(
            "generations_by_id_prefix", {"id_prefix": prefix, "in_trash": trash}
        )
        found = [Generation.from_row(r) for r in rows]
        match = only_match(found, lambda g: g.id, value, prefix, "generation id")
        if match is None:
            where = " in the trash" if scope == "trash" else ""
            listed_by = "gen trash" if scope == "trash" else "gen list"
            raise NotFound(
                f"no generation id{where} starts with {value!r}",
                hint=f"list your ids with `{listed_by}`",
            )
        return match

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
        return self._retag("tag_generations", generation_ids, tags)

    def untag(self, generation_ids: Iterable[str], tags: Iterable[str]) -> int:
        """Remove tags from generations; returns how many were removed."""
        return self._retag("untag_generations", generation_ids, tags)

    def _retag(self, fn: str, generation_ids: Iterable[str], tags: Iterable[str]) -> int:
        names = _validate.tags(tags)
        args = {"generation_ids": _ids(generation_ids), "tags": names}
        return int(self._transport.rpc(fn, args, scalar=True) or 0)

    @staticmethod
    def clean_tags(values: Iterable[str]) -> builtins.list[str]:
        """Tags as they are stored: trimmed, lower-case, without repeats.

        InvalidInput for none, an empty or over-long tag, or more than 20 at once.
        """
        return _validate.tags(values)

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


def _filter_args(where: HistoryFilter) -> dict[str, Any]:
    """``where`` as find_generations' arguments, each checked first."""
    if where.sort not in SORTS:
        raise InvalidInput(f"unknown order {where.sort!r}", hint="use one of: " + ", ".join(SORTS))
    if where.text is not None:
        _check_search_text(where.text)
    if where.model is not None:
        _validate.text(where.model, "model filter")
    if where.created_from and where.created_to and where.created_from >= where.created_to:
        raise InvalidInput(
            "the date range is empty: the start must come before the end",
            hint="swap the two dates, or leave one of them out",
        )
    collection = where.collection_id
    return {
        "sort": where.sort,
        "search_text": where.text,
        "created_from": where.created_from,
        "created_to": where.created_to,
        "with_model": where.model,
        "starred_only": where.starred,
        "collection_id": (
            _validate.generation_id(collection, what="collection id") if collection else None
        ),
        "with_tags": _validate.tags(where.tags) if where.tags else None,
        "in_trash": where.trash,
    }


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
