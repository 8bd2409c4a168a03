"""What others shared with the user: `gen shared` lists it, `gen shared download` saves it."""

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from genvault.cli._context import JsonOpt, default_command_group, state
from genvault.cli._history import BeforeOpt, LimitOpt
from genvault.cli._render import human_bytes
from genvault.cli._sharing import shared_table

__all__ = ["shared_app"]

shared_app = typer.Typer(
    cls=default_command_group("list"),
    help="What others shared with you: `gen shared` lists the images, "
    "`gen shared download ID` saves one.",
)


@shared_app.command("list")
def shared_list(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    before: BeforeOpt = None,
    share: Annotated[
        str | None,
        typer.Option(
            "--share",
            metavar="SHARE_ID",
            help="Only what this share (from `gen share list --with-me`) shows.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The images others shared with you (the default of `gen shared`), newest first."""
    st = state(ctx)
    out = st.output
    sharing = st.ready_client().sharing
    share_id = None
    if share is not None:
        share_id = sharing.resolve_received(share).id
    page = sharing.generations(share_id=share_id, limit=limit, before=before)
    if as_json:
        out.json({"items": [g.to_dict() for g in page.items], "next_cursor": page.next_cursor})
        return
    if not page.items:
        out.hint("nobody has shared an image with you yet" if before is None else "no more images")
        return
    out.out.print(shared_table(page.items, out.out.width))
    if page.next_cursor:
        again = ["gen"] + (["--profile", st.profile] if st.profile else []) + ["shared"]
        again += ["--limit", str(limit)] if limit != 20 else []
        again += ["--share", share] if share is not None else []
        out.hint(f"more: {shlex.join([*again, '--before', page.next_cursor])}")
    else:
        out.hint("save one with: gen shared download ID")


@shared_app.command("download")
def shared_download(
    ctx: typer.Context,
    generation_id: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="The image's id (or first 8+ characters) from `gen shared`."
        ),
    ],
    dest: Annotated[
        str | None,
        typer.Argument(
            metavar="[DEST]",
            help="A file, or a folder (existing, or ending in /) to save <id>.webp in; "
            "default: the current folder.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save an image someone shared with you."""
    import shutil
    import tempfile

    st = state(ctx)
    sharing = st.ready_client().sharing
    item = sharing.resolve(generation_id)
    data = sharing.read_image(item)
    target = Path(dest or ".")
    if target.is_dir() or (dest or "").endswith(("/", os.sep)):
        target = target / f"{item.id}.webp"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp.write(data)
    shutil.move(tmp.name, target)
    if as_json:
        st.output.json(
            {"id": item.id, "path": str(target), "bytes": len(data), "shared_by": item.shared_by}
        )
        return
    st.output.out.print(
        Text(f"saved {target} ({human_bytes(len(data))}), shared by {item.shared_by}")
    )
