"""`gen export`: a copy of the user's images and a manifest, in a folder or a zip file."""

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from genvault.cli._context import JsonOpt, state
from genvault.cli._listing import parse_when
from genvault.cli._render import human_bytes, plural

__all__ = ["app"]

app = typer.Typer()


@app.command()
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
    start = parse_when(since, "--since", end_of_day=False)
    end = parse_when(until, "--until", end_of_day=True)
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
