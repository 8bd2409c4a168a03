"""Turning what people type into ids: generation ids and prefixes, share and link ids.

Tables show the first 8 characters of an id, and every command accepts them.
The library has no prefix query, so a prefix is looked up by reading the
user's own rows page by page, stopping at the second match.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from genvault._exceptions import InvalidInput, NotFound
from genvault.cli._render import short_id

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo, SharedGeneration, SharingRepo

__all__ = [
    "Scope",
    "find_generation",
    "find_generations",
    "find_shared",
    "pick",
    "sort_out_generations",
]

Scope = Literal["history", "trash", "any"]
"""Where a generation may be: in the history, in the trash, or either."""

_PREFIX = re.compile(r"^[0-9a-f-]+$")
_MIN_PREFIX = 8
_PAGE = 500  # the largest page the library serves (see _validate.MAX_PAGE)
T = TypeVar("T")


def _parse(value: str, what: str, listed_by: str) -> tuple[str | None, str]:
    """(the full id, "") for a UUID, or (None, the hex prefix) for a prefix."""
    text = value.strip().lower()
    try:
        return str(uuid.UUID(text)), ""
    except ValueError:
        pass
    compact = text.replace("-", "")
    if len(compact) < _MIN_PREFIX or len(compact) >= 32 or not _PREFIX.match(text):
        raise InvalidInput(
            f"{value[:60]!r} is not a {what}",
            hint=f"give the full id, or its first 8 or more characters as `{listed_by}` shows them",
        )
    return None, compact


def _only_match(
    items: Iterable[T], key: Callable[[T], str], value: str, prefix: str, what: str
) -> T | None:
    found: T | None = None
    for item in items:
        if key(item).replace("-", "").startswith(prefix):
            if found is not None:
                raise InvalidInput(
                    f"{value!r} is the start of more than one {what}",
                    hint="give more characters of the id",
                )
            found = item
    return found


def _pages(repo: GenerationsRepo, *, trash: bool) -> Iterator[Generation]:
    from genvault import HistoryFilter

    where = HistoryFilter(trash=trash)
    before: str | None = None
    while True:
        page = repo.find(where, limit=_PAGE, before=before)
        yield from page.items
        if page.next_cursor is None:
            return
        before = page.next_cursor


def find_generation(repo: GenerationsRepo, value: str, *, scope: Scope = "history") -> Generation:
    """The user's generation for a full id or an unambiguous 8+ character prefix.

    InvalidInput for something that is not an id or a prefix matching two;
    NotFound when there is none in ``scope``.
    """
    listed_by = "gen trash" if scope == "trash" else "gen list"
    full, prefix = _parse(value, "generation id", listed_by)
    if full is not None:
        gen = repo.get(full)
    else:
        places = {"history": (False,), "trash": (True,), "any": (False, True)}[scope]
        match: Generation | None = None
        for trash in places:
            found = _only_match(_pages(repo, trash=trash), lambda g: g.id, value, prefix, "id")
            if found is not None and match is not None:
                raise InvalidInput(
                    f"{value!r} is the start of more than one generation id",
                    hint="give more characters of the id",
                )
            match = match or found
        if match is None:
            where = {"history": "", "trash": " in the trash", "any": ""}[scope]
            raise NotFound(
                f"no generation id{where} starts with {value!r}",
                hint=f"list your ids with `{listed_by}`",
            )
        gen = match
    if scope == "history" and gen.trashed_at is not None:
        raise NotFound(
            f"generation {gen.id} is in the trash",
            hint=f"bring it back first with `gen restore {short_id(gen.id)}`",
        )
    if scope == "trash" and gen.trashed_at is None:
        raise NotFound(
            f"generation {gen.id} is not in the trash", hint="list the trash with `gen trash`"
        )
    return gen


def find_generations(
    repo: GenerationsRepo, values: Sequence[str], *, scope: Scope = "history"
) -> list[Generation]:
    """Every value's generation, without repeats; the first one that fails raises."""
    found: list[Generation] = []
    for value in values:
        gen = find_generation(repo, value, scope=scope)
        if all(g.id != gen.id for g in found):
            found.append(gen)
    return found


def sort_out_generations(
    repo: GenerationsRepo, values: Sequence[str], *, scope: Scope = "any"
) -> tuple[list[Generation], list[str]]:
    """The generations found for ``values`` (without repeats), and the values that
    matched none: for commands that report on each id instead of stopping."""
    found: list[Generation] = []
    missing: list[str] = []
    for value in values:
        try:
            gen = find_generation(repo, value, scope=scope)
        except NotFound:
            missing.append(value)
            continue
        if all(g.id != gen.id for g in found):
            found.append(gen)
    return found, missing


def find_shared(repo: SharingRepo, value: str) -> SharedGeneration:
    """A generation someone shared with the user, by full id or 8+ character prefix."""
    full, prefix = _parse(value, "generation id", "gen shared")
    if full is not None:
        return repo.get(full)

    def shared() -> Iterator[SharedGeneration]:
        before: str | None = None
        while True:
            page = repo.generations(limit=_PAGE, before=before)
            yield from page.items
            if page.next_cursor is None:
                return
            before = page.next_cursor

    match = _only_match(shared(), lambda g: g.id, value, prefix, "id")
    if match is None:
        raise NotFound(
            f"nothing shared with you has an id starting with {value!r}",
            hint="list what is shared with you with `gen shared`",
        )
    return match


def pick(
    items: Sequence[T], key: Callable[[T], str], value: str, *, what: str, listed_by: str
) -> T:
    """The item of a short list (shares, links) whose id is ``value`` or starts with it."""
    full, prefix = _parse(value, what, listed_by)
    match = _only_match(items, key, value, prefix or (full or "").replace("-", ""), what)
    if match is None:
        raise NotFound(f"you have no {what} {value!r}", hint=f"list them with `{listed_by}`")
    return match
