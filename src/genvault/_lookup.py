"""Turning what people type into ids: a full id, or its first 8 or more characters.

Tables show the first 8 characters of an id, and every command and repo method
that takes an id accepts them. Generations are looked up by prefix in the
database (``generations_by_id_prefix``, which sees only the caller's rows); the
short lists of shares and links are matched here, after they are read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from genvault._exceptions import InvalidInput, NotFound

__all__ = ["MIN_PREFIX", "Scope", "only_match", "parse_id", "pick"]

Scope = Literal["history", "trash", "any"]
"""Where a generation may be: in the history, in the trash, or either."""

MIN_PREFIX = 8
_HEX = re.compile(r"^[0-9a-f-]+$")
T = TypeVar("T")


def parse_id(value: str, what: str, listed_by: str) -> tuple[str | None, str]:
    """(the full id, "") for a UUID, or (None, its hex digits) for a prefix of 8 to 31.

    InvalidInput, naming ``what`` and the command that lists them, for anything else.
    """
    text = str(value).strip().lower()
    try:
        return str(uuid.UUID(text)), ""
    except ValueError:
        pass
    compact = text.replace("-", "")
    if len(compact) < MIN_PREFIX or len(compact) >= 32 or not _HEX.match(text):
        raise InvalidInput(
            f"{str(value)[:60]!r} is not a {what}",
            hint=f"give the full id, or its first 8 or more characters as `{listed_by}` shows them",
        )
    return None, compact


def only_match(
    items: Iterable[T], key: Callable[[T], str], value: str, prefix: str, what: str
) -> T | None:
    """The one item whose id starts with ``prefix``; None for none, InvalidInput for two."""
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


def pick(
    items: Iterable[T], key: Callable[[T], str], value: str, *, what: str, listed_by: str
) -> T:
    """The item of a short list (shares, links) whose id is ``value`` or starts with it."""
    full, prefix = parse_id(value, what, listed_by)
    match = only_match(items, key, value, prefix or (full or "").replace("-", ""), what)
    if match is None:
        raise NotFound(f"you have no {what} {value!r}", hint=f"list them with `{listed_by}`")
    return match
