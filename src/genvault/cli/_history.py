"""Naming and paging through the history: what the commands that list or pick
generations share.

:func:`resolve_id` turns an id or a prefix of one into a full id;
:func:`find_page` reads one page of a filter, or every page; :func:`show_page`
prints a page with the command that shows the next one. The commands
themselves are in :mod:`~genvault.cli._listing`, :mod:`~genvault.cli._show`,
:mod:`~genvault.cli._trash` and :mod:`~genvault.cli._export`.
"""

import re
import shlex
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from genvault._exceptions import InvalidInput, NotFound
from genvault.cli._context import State
from genvault.cli._render import generations_table
from genvault.cli._viewer import open_in_viewer

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo, HistoryFilter, Page

__all__ = [
    "PANEL",
    "BeforeOpt",
    "IdArg",
    "IdsArg",
    "LimitOpt",
    "find_page",
    "open_in_viewer",
    "resolve_id",
    "show_page",
]

PANEL = "History"
_PREFIX = re.compile(r"^[0-9a-f-]+$")
_MIN_PREFIX = 8

IdArg = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="A generation id, or its first 8 or more characters as `gen list` shows."
    ),
]
IdsArg = Annotated[
    list[str],
    typer.Argument(metavar="ID...", help="Generation ids (or 8+ character prefixes)."),
]


# -- ids ----------------------------------------------------------------------


def resolve_id(repo: "GenerationsRepo", value: str) -> str:
    """The full id for ``value``: a full UUID, or an unambiguous prefix of 8+ characters.

    A prefix is looked up by reading the user's history page by page (the
    library has no prefix query), stopping as soon as a second match shows up.
    """
    text = value.strip().lower()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    compact = text.replace("-", "")
    if len(compact) < _MIN_PREFIX or len(compact) >= 32 or not _PREFIX.match(text):
        raise InvalidInput(
            f"{value[:60]!r} is not a generation id",
            hint="give the full id, or its first 8 or more characters as `gen list` shows them",
        )
    matches: list[str] = []
    for gen in repo.iter_all(page_size=500):
        if gen.id.replace("-", "").startswith(compact):
            matches.append(gen.id)
            if len(matches) > 1:
                raise InvalidInput(
                    f"{value!r} is the start of more than one generation id",
                    hint="give more characters of the id",
                )
    if not matches:
        raise NotFound(
            f"no generation id starts with {value!r}", hint="list your ids with `gen list`"
        )
    return matches[0]


# -- pages --------------------------------------------------------------------

# The list functions take at most 1,000 rows, and the library asks for one more
# than the page size to learn whether another page follows.
MAX_PAGE = 500
LimitOpt = Annotated[
    int, typer.Option("--limit", "-n", min=1, max=MAX_PAGE, help="How many generations per page.")
]
BeforeOpt = Annotated[
    str | None,
    typer.Option(
        "--before",
        metavar="CURSOR",
        help="Start after this point (the cursor printed under the previous page).",
        show_default=False,
    ),
]


def show_page(
    st: State,
    page: "Page",
    *,
    as_json: bool,
    again: list[str],
    empty: str,
    trashed: bool = False,
) -> None:
    """A page of generations: as JSON, or a table and the command for the next page."""
    out = st.output
    if as_json:
        out.json({"items": [g.to_dict() for g in page.items], "next_cursor": page.next_cursor})
        return
    if not page.items:
        out.hint(empty)
        return
    out.out.print(generations_table(page.items, width=out.out.width, trashed=trashed))
    if page.next_cursor:
        prefix = ["gen"] + (["--profile", st.profile] if st.profile else [])
        command = shlex.join([*prefix, *again, "--before", page.next_cursor])
        out.hint(f"more: {command}")


def find_page(
    repo: "GenerationsRepo",
    where: "HistoryFilter",
    *,
    limit: int,
    before: str | None,
    every: bool = False,
) -> "Page":
    """One page under ``where``, or with ``every`` all of them from ``before`` on."""
    if not every:
        return repo.find(where, limit=limit, before=before)
    from genvault import Page

    items: list[Generation] = []
    while True:
        page = repo.find(where, limit=MAX_PAGE, before=before)
        items.extend(page.items)
        if page.next_cursor is None:
            return Page(items, None)
        before = page.next_cursor
