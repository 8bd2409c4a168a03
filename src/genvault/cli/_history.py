"""The history: list, search, show, open, download, delete, export."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from datetime import time as day_time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

import typer
from rich.text import Text

from genvault import MAX_PAGE, GenvaultError
from genvault.cli._context import JsonOpt, State, confirm, state
from genvault.cli._ids import sort_out_generations
from genvault.cli._render import (
    generations_table,
    human_bytes,
    inline_image,
    inline_protocol,
    local_time,
    plural,
    short_id,
)

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo, Page

__all__ = ["BeforeOpt", "LimitOpt", "app", "open_in_viewer", "show_page"]

app = typer.Typer()

PANEL = "History"

IdArg = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="A generation id, or its first 8 or more characters as `gen list` shows."
    ),
]


# -- list and search ------------------------------------------------------------

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


class Sort(StrEnum):
    """The orders of `gen list --sort`."""

    newest = "newest"
    oldest = "oldest"
    starred = "starred"


@app.command("list", rich_help_panel=PANEL)
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

    start = _when(since, "--from", end_of_day=False)
    end = _when(until, "--to", end_of_day=False)
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
    repo = client.generations
    page = (
        repo.find_all(where, before=before)
        if every
        else repo.find(where, limit=limit, before=before)
    )
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


@app.command(rich_help_panel=PANEL)
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


# -- one generation -------------------------------------------------------------


@app.command(rich_help_panel=PANEL)
def show(ctx: typer.Context, generation_id: IdArg, as_json: JsonOpt = False) -> None:
    """Everything about one generation, and the image itself where the terminal can show it."""
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    gen = repo.get(repo.full_id(generation_id))
    url = repo.image_url(gen)
    if as_json:
        out.json({**gen.to_dict(), "url": url})
        return
    settings = " ".join(f"{k}={v}" for k, v in sorted(gen.params.items()))
    # Plain lines rather than a table, so that long paths and URLs are never
    # folded or cut: they stay whole to copy.
    for name, value in (
        ("id", gen.id),
        ("prompt", gen.prompt),
        ("model", gen.model),
        ("settings", settings or "-"),
        ("created", local_time(gen.created_at)),
        ("updated", local_time(gen.updated_at)),
        ("size", human_bytes(gen.image_bytes)),
        ("sha256", gen.image_sha256 or "-"),
        ("image", gen.image_url),
        ("thumbnail", gen.thumbnail_url or "-"),
        ("url", url),
    ):
        out.out.print(Text.assemble((f"{name:<10}", "bold"), "  ", value))
    # A real terminal only (not FORCE_COLOR into a pipe): the escape codes carry the picture.
    protocol = inline_protocol() if sys.stdout.isatty() else None
    if protocol is not None and gen.is_stored:
        try:
            png = _as_png(repo.read_image(gen, thumbnail=True))
        except GenvaultError as exc:
            opener = f"gen open {short_id(gen.id)}"
            out.hint(f"no preview ({exc.message}); open it with: {opener}")
            return
        out.out.file.flush()
        sys.stdout.write(inline_image(png, protocol))
        sys.stdout.flush()
    else:
        out.hint(f"open it with: gen open {short_id(gen.id)}")


def _as_png(webp: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(webp)) as image:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    return buffer.getvalue()


def open_in_viewer(url: str) -> None:
    """Open ``url`` (file:// or https://) in the default image viewer or browser.

    $BROWSER wins when set (as Python's webbrowser module defines it); otherwise
    the desktop's opener (open, xdg-open, the Windows shell).
    """
    import webbrowser

    target = unquote(urlsplit(url).path) if url.startswith("file://") else url
    if os.environ.get("BROWSER"):
        if webbrowser.open(url):
            return
    elif sys.platform == "darwin":
        if subprocess.run(["open", target], check=False).returncode == 0:
            return
    elif sys.platform == "win32":
        os.startfile(target)  # type: ignore[attr-defined]  # noqa: S606  # Windows only
        return
    elif shutil.which("xdg-open") and (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        subprocess.Popen(
            ["xdg-open", target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return
    raise GenvaultError(
        "found no viewer to open the image with",
        hint=f"open {target} yourself, or set BROWSER to a program that opens files",
    )


@app.command("open", rich_help_panel=PANEL)
def open_(ctx: typer.Context, generation_id: IdArg) -> None:
    """Open the full-size image in the default viewer or browser."""
    st = state(ctx)
    repo = st.ready_client().generations
    gen = repo.get(repo.full_id(generation_id))
    url = repo.image_url(gen)
    open_in_viewer(url)
    st.output.out.print(Text(f"opened {url}"))


@app.command(rich_help_panel=PANEL)
def download(
    ctx: typer.Context,
    generation_ids: Annotated[
        list[str],
        typer.Argument(metavar="ID...", help="Generation ids (or 8+ character prefixes)."),
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Folder to save the images in (created if missing).",
            file_okay=False,
        ),
    ] = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Save full-size images to a folder, as <id>.webp."""
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for value in generation_ids:
        path = repo.download(repo.full_id(value), output_dir)
        size = path.stat().st_size
        saved.append({"id": path.stem, "path": str(path), "bytes": size})
        if not as_json:
            out.out.print(Text(f"saved {path} ({human_bytes(size)})"))
    if as_json:
        out.json(saved)


@app.command(rich_help_panel=PANEL)
def delete(
    ctx: typer.Context,
    generation_ids: Annotated[
        list[str],
        typer.Argument(metavar="ID...", help="Generation ids (or 8+ character prefixes)."),
    ],
    permanent: Annotated[
        bool,
        typer.Option(
            "--permanent",
            help="Delete for good, with the stored images, instead of moving to the trash.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --permanent: do not ask for confirmation.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move generations to the trash; --permanent deletes them for good.

    The trash keeps them for 30 days: `gen trash` lists it, `gen restore ID`
    brings one back. --permanent asks first (unless --yes), then deletes the
    generations and their stored images, from the history or the trash.
    Reports each id; exits with 1 when any id was not found.
    """
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    found, missing = sort_out_generations(repo, generation_ids, scope="any")
    if not permanent:
        _to_trash(st, repo, found, missing, as_json=as_json)
        return
    if found and not yes:
        out.err.print(generations_table(found, width=out.err.width))
        count = "this generation" if len(found) == 1 else f"these {len(found)} generations"
        if not confirm(out, f"Delete {count} and the stored images for good?"):
            out.note("nothing was deleted")
            raise typer.Exit(1)
    outcomes = repo.delete([g.id for g in found]) if found else []
    report = [{"id": o.id, "deleted": o.deleted} for o in outcomes]
    report += [{"id": value, "deleted": False} for value in missing]
    if as_json:
        out.json(report)
    else:
        for row in report:
            if row["deleted"]:
                out.out.print(Text(f"deleted   {row['id']}"))
            else:
                out.out.print(Text(f"not found {row['id']}", style="red"))
    if any(not row["deleted"] for row in report):
        raise typer.Exit(1)


def _to_trash(
    st: State,
    repo: "GenerationsRepo",
    found: "list[Generation]",
    missing: list[str],
    *,
    as_json: bool,
) -> None:
    out = st.output
    already = {g.id for g in found if g.trashed_at is not None}
    moved = set(repo.trash([g.id for g in found if g.id not in already])) if found else set()
    report = [{"id": g.id, "trashed": g.id in moved or g.id in already} for g in found]
    report += [{"id": value, "trashed": False} for value in missing]
    if as_json:
        out.json(report)
    else:
        for row in report:
            if not row["trashed"]:
                out.out.print(Text(f"not found {row['id']}", style="red"))
            elif row["id"] in already:
                out.out.print(Text(f"trashed   {row['id']} (it already was)"))
            else:
                out.out.print(Text(f"trashed   {row['id']}"))
        back = [short_id(g.id) for g in found if g.id in moved]
        if back:
            undo = " ".join(back)
            out.hint(f"moved to the trash, kept there for 30 days; undo with: gen restore {undo}")
    if any(not row["trashed"] for row in report):
        raise typer.Exit(1)


# -- export ---------------------------------------------------------------------


def _when(value: str | None, option: str, *, end_of_day: bool) -> datetime | None:
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


@app.command(rich_help_panel=PANEL)
def export(
    ctx: typer.Context,
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="A folder, or a .zip file with --zip.")
    ],
    as_zip: Annotated[bool, typer.Option("--zip", help="Write one zip file instead.")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DATE", help="Only images from this day on.", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="DATE", help="Only images up to this day.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy your images and a manifest.json to a folder or a zip file.

    An interrupted export picks up where it stopped when run again: images already
    there are not fetched twice.
    """
    start = _when(since, "--since", end_of_day=False)
    end = _when(until, "--until", end_of_day=True)
    st = state(ctx)
    out = st.output
    client = st.ready_client()
    if out.live and not as_json:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("· {task.fields[written]}"),
            TimeElapsedColumn(),
            console=out.err,
            transient=True,
        ) as bar:
            task = bar.add_task("export", total=None, written=human_bytes(0))

            def advance(done: int, total: int, written: int) -> None:
                bar.update(task, completed=done, total=total, written=human_bytes(written))

            result = client.export(dest, as_zip=as_zip, since=start, until=end, on_progress=advance)
    else:
        result = client.export(dest, as_zip=as_zip, since=start, until=end)
    if as_json:
        out.json(
            {
                "path": result.path,
                "images": result.images,
                "skipped": result.skipped,
                "bytes": result.bytes,
            }
        )
        return
    already = f", {result.skipped} already there" if result.skipped else ""
    out.out.print(
        Text(
            f"exported {plural(result.images, 'image')} to {result.path}{already} "
            f"({human_bytes(result.bytes)} written)"
        )
    )
