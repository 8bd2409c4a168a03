"""Naming and paging through the history: what the commands that list or pick
generations share.

:func:`find_page` reads one page of a filter, or every page; :func:`show_page`
prints a page with the command that shows the next one. Ids and their
prefixes are the library's (``GenerationsRepo.full_id``). The commands
themselves are in :mod:`~genvault.cli._listing`, :mod:`~genvault.cli._show`,
:mod:`~genvault.cli._trash` and :mod:`~genvault.cli._export`.
"""

import shlex
from typing import TYPE_CHECKING, Annotated

import typer

from genvault import MAX_PAGE
from genvault.cli._context import State
from genvault.cli._render import generations_table

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo, HistoryFilter, Page

__all__ = [
    "BeforeOpt",
    "IdArg",
    "IdsArg",
    "LimitOpt",
    "find_page",
    "show_page",
]

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


# -- pages --------------------------------------------------------------------

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
    page: "Page[Generation]",
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
) -> "Page[Generation]":
    """One page under ``where``, or with ``every`` all of them from ``before`` on."""
    if every:
        return repo.find_all(where, before=before)
    return repo.find(where, limit=limit, before=before)
