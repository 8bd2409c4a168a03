"""What the sharing commands have in common: naming what is shared, and listing
shared images.

Sharing with another user is in :mod:`genvault.cli._share`, what others share
in :mod:`genvault.cli._shared`, public links in :mod:`genvault.cli._link`.
"""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from genvault.cli._render import local_time, one_line, plain_table, short_id

if TYPE_CHECKING:
    from genvault import SharedGeneration

__all__ = ["CollectionOpt", "shared_table", "subject"]

CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        "-c",
        metavar="NAME",
        help="A collection instead of one generation.",
        show_default=False,
    ),
]


def subject(generation_id: str | None, collection_name: str | None) -> str:
    """An image by its short id, or a collection by its name."""
    if generation_id is not None:
        return f"image {short_id(generation_id)}"
    return f"collection {collection_name or '?'}"


def shared_table(items: "list[SharedGeneration]", width: int) -> Table:
    """Images others shared, one line each, fitted to ``width``."""
    table = plain_table("id", "date", "prompt", "from")
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ellipsis"
    table.columns[0].min_width = 8
    table.columns[1].min_width = 16
    table.columns[2].ratio = 1
    table.columns[3].max_width = max(12, min(32, width // 4))
    table.width = width
    for item in items:
        table.add_row(
            short_id(item.id),
            local_time(item.created_at),
            Text(one_line(item.prompt)),
            Text(item.shared_by),
        )
    return table
