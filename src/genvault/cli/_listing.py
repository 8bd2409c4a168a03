"""Reading the history: `gen list` with its filters, and `gen search`."""

import re
from datetime import datetime, timedelta
from datetime import time as day_time
from enum import StrEnum
from typing import Annotated

import typer

from genvault.cli._context import JsonOpt, state
from genvault.cli._history import BeforeOpt, LimitOpt, find_page, show_page

__all__ = ["app", "parse_when"]

app = typer.Typer()


class Sort(StrEnum):
    """The orders of `gen list --sort`."""

    newest = "newest"
    oldest = "oldest"
    starred = "starred"


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    before: BeforeOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Every generation, not one page.")] = False,
    text: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-s",
            metavar="TEXT",
            help="Only prompts containing TEXT (any case).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Only images made at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="DATE",
            help="Only images made before DATE; exclusive, so --to 2025-06-01 ends with May 31.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="OWNER/NAME",
            help="Only images made with this model.",
            show_default=False,
        ),
    ] = None,
    starred: Annotated[bool, typer.Option("--starred", help="Only starred images.")] = False,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            metavar="NAME",
            help="Only images in this collection.",
            show_default=False,
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="TAG",
            help="Only images with this tag; repeat it for images with all of the tags.",
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        Sort,
        typer.Option(
            "--sort",
            case_sensitive=False,
            help="newest or oldest first, or starred first (then newest).",
        ),
    ] = Sort.newest,
    as_json: JsonOpt = False,
) -> None:
    """Your generations, newest first, a page at a time; the options narrow it down."""
    from genvault import GenerationsRepo, HistoryFilter

    start = parse_when(since, "--from", end_of_day=False)
    end = parse_when(until, "--to", end_of_day=False)
    wanted = tuple(GenerationsRepo.clean_tags(tags)) if tags else ()
    st = state(ctx)
    client = st.ready_client()
    where = HistoryFilter(
        text=text,
        created_from=start,
        created_to=end,
        model=model.strip() if model is not None else None,
        starred=starred,
        collection_id=client.collections.resolve(collection).id if collection else None,
        tags=wanted,
        sort=sort.value,
    )
    page = find_page(client.generations, where, limit=limit, before=before, every=every)
    again = ["list"] + (["--limit", str(limit)] if limit != 20 else [])
    for option, value in (
        ("--search", text),
        ("--from", since),
        ("--to", until),
        ("--model", model),
        ("--collection", collection),
    ):
        if value is not None:
            again += [option, value]
    again += ["--starred"] if starred else []
    for tag in tags or ():
        again += ["--tag", tag]
    again += ["--sort", sort.value] if sort is not Sort.newest else []
    if before is not None:
        empty = "no more generations"
    elif where.is_plain():
        empty = 'no generations yet; make one with: gen create "a red fox in fresh snow"'
    else:
        empty = "no generation matches"
    show_page(st, page, as_json=as_json, again=again, empty=empty)


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words to look for in the prompts (any case).")],
    limit: LimitOpt = 20,
    before: BeforeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generations whose prompt contains TEXT, newest first (like `gen list --search`)."""
    from genvault import HistoryFilter

    st = state(ctx)
    page = st.ready_client().generations.find(HistoryFilter(text=text), limit=limit, before=before)
    again = ["search", text] + (["--limit", str(limit)] if limit != 20 else [])
    empty = f"no generation has {text!r} in its prompt" if before is None else "no more matches"
    show_page(st, page, as_json=as_json, again=again, empty=empty)


def parse_when(value: str | None, option: str, *, end_of_day: bool) -> datetime | None:
    """A date or date-time from the command line, in local time when no zone is given."""
    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            day = datetime.fromisoformat(value.strip()).date()
            moment = datetime.combine(day, day_time.min)
            if end_of_day:
                moment += timedelta(days=1) - timedelta(microseconds=1)
        else:
            moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.astimezone()
