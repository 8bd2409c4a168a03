"""Output: data to stdout, messages to stderr, and the shapes both take.

Everything a command prints goes through :class:`Output`. Tables and JSON are
data and go to stdout; progress, hints and errors go to a stderr console, so
that ``gen list --json | jq`` and ``gen list > list.txt`` get only the data.
Rich honours NO_COLOR and turns colour off when a stream is not a terminal;
spinners and progress bars are shown only when stderr is a terminal.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.filesize import decimal as _decimal_size
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from genvault import Generation

__all__ = [
    "Output",
    "generations_table",
    "human_bytes",
    "jsonable",
    "local_time",
    "one_line",
    "plural",
    "short_id",
]

SHORT_ID = 8


class Output:
    """The two consoles of one command run.

    Built while the command runs (not at import), so that the streams it writes
    to are the ones in place then, which is what test runners swap in.
    """

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def live(self) -> bool:
        """Whether animated output (spinners, progress bars) makes sense on stderr."""
        return self.err.is_terminal and not self.err.is_dumb_terminal

    def json(self, data: Any) -> None:
        """Machine-readable output: JSON on stdout and nothing else."""
        sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def note(self, message: str) -> None:
        """A message for the person at the terminal (stderr); markup allowed."""
        self.err.print(message)

    def hint(self, message: str) -> None:
        """A dim hint line on stderr (plain text, no markup)."""
        self.err.print(Text(message, style="dim"))

    def error(self, message: str, hint: str | None = None) -> None:
        """The one error line (and its hint) a failed command ends with."""
        self.err.print(Text.assemble(("error:", "bold red"), " ", (message, "red")))
        if hint:
            self.err.print(Text.assemble(("hint:", "bold"), " ", hint))

    @contextmanager
    def status(self, message: str) -> Iterator[Any]:
        """A spinner on stderr when it is a terminal; nothing otherwise."""
        if self.live:
            with self.err.status(escape(message)) as status:
                yield status
        else:
            with nullcontext(None) as nothing:
                yield nothing


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, ids, paths and decimals turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    return value


def short_id(value: str) -> str:
    """The first characters of an id, as tables show it (and as commands accept it)."""
    return value[:SHORT_ID]


def local_time(value: datetime | str | None) -> str:
    """A timestamp in the local time zone, to the minute."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        value = moment
    if value.tzinfo is not None:
        value = value.astimezone()
    return value.strftime("%Y-%m-%d %H:%M")


def human_bytes(size: int | None) -> str:
    """A byte count for people (decimal units, as file managers show them)."""
    return "-" if size is None else _decimal_size(int(size))


def plural(count: int, word: str) -> str:
    """ "1 image", "2 images", "3 ledger entries"."""
    if count == 1:
        return f"{count} {word}"
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return f"{count} {word[:-1]}ies"
    return f"{count} {word}s"


def one_line(text: str) -> str:
    """Text with every run of whitespace (newlines too) turned into one space."""
    return " ".join(text.split())


def plain_table(*columns: str, title: str | None = None) -> Table:
    """A table with a header row and no borders, easy to read and to grep."""
    table = Table(
        *columns,
        box=box.SIMPLE_HEAD,
        title=title,
        title_justify="left",
        title_style="bold",
        pad_edge=False,
        show_edge=False,
    )
    return table


def generations_table(
    gens: Iterable[Generation], *, width: int = 80, trashed: bool = False
) -> Table:
    """id, date, prompt and model of each generation, in the order given, fitted to ``width``.

    A starred generation's prompt starts with ★; a tags column follows the model
    when any row has tags. With ``trashed`` the date is when it went to the trash.
    The id and date always show in full (commands accept the short id); the tags,
    the model and then the prompt give way on a narrow terminal.
    """
    rows = [
        (
            short_id(g.id),
            local_time(g.trashed_at if trashed else g.created_at),
            ("★ " if g.starred else "") + one_line(g.prompt),
            g.model,
            ", ".join(g.tags),
        )
        for g in gens
    ]
    with_tags = any(r[4] for r in rows)
    id_w, date_w = 8, 16
    gaps = 3 * (4 if with_tags else 3)
    model_w = min(24, max([len("model"), *(len(r[3]) for r in rows)]))
    tags_w = min(24, max([len("tags"), *(len(r[4]) for r in rows)])) if with_tags else 0
    prompt_w = width - id_w - date_w - model_w - tags_w - gaps
    if prompt_w < 16 and with_tags:  # narrow: the tags give way first
        tags_w = max(8, tags_w - (16 - prompt_w))
        prompt_w = width - id_w - date_w - model_w - tags_w - gaps
    if prompt_w < 16:  # then the model column shrinks before the prompt does
        model_w = max(8, model_w - (16 - prompt_w))
        prompt_w = max(8, width - id_w - date_w - model_w - tags_w - gaps)
    columns = ["id", "trashed" if trashed else "date", "prompt", "model"]
    sizes = [id_w, date_w, prompt_w, model_w]
    if with_tags:
        columns.append("tags")
        sizes.append(tags_w)
    table = plain_table(*columns)
    for column, size in zip(table.columns, sizes, strict=True):
        column.no_wrap = True
        column.overflow = "ellipsis"
        column.min_width = column.max_width = size
    table.columns[2].min_width = min(prompt_w, max([len("prompt"), *(len(r[2]) for r in rows)]))
    if with_tags:
        table.columns[4].min_width = min(tags_w, max([len("tags"), *(len(r[4]) for r in rows)]))
    for short, when, prompt, model, tags in rows:
        cells: list[str | Text] = [short, when, Text(prompt), model]
        if with_tags:
            cells.append(Text(tags))
        table.add_row(*cells)
    return table


# -- inline images ----------------------------------------------------------


def inline_protocol(env: Mapping[str, str] | None = None) -> str | None:
    """Which inline-image protocol the terminal speaks: "kitty", "iterm2" or None."""
    env = os.environ if env is None else env
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if term == "xterm-kitty" or program in ("ghostty", "kitty") or "KITTY_WINDOW_ID" in env:
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm2"
    return None


def inline_image(png: bytes, protocol: str, *, columns: int = 40) -> str:
    """The escape sequence that draws ``png`` inline in a kitty or iTerm2 terminal."""
    payload = base64.standard_b64encode(png).decode("ascii")
    if protocol == "iterm2":
        return (
            f"\x1b]1337;File=inline=1;size={len(png)};width={columns};"
            f"preserveAspectRatio=1:{payload}\x07\n"
        )
    # kitty: the PNG in chunks of at most 4096 base64 characters.
    chunks = [payload[i : i + 4096] for i in range(0, len(payload), 4096)] or [""]
    parts = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        head = f"a=T,f=100,c={columns},m={more}" if index == 0 else f"m={more}"
        parts.append(f"\x1b_G{head};{chunk}\x1b\\")
    return "".join(parts) + "\n"
