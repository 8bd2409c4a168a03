"""Sharing: with other users (read-only for them), and public links that expire."""

import os
import re
import shlex
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from genvault import NotFound
from genvault.cli._context import JsonOpt, default_command_group, state
from genvault.cli._history import BeforeOpt, LimitOpt
from genvault.cli._render import human_bytes, local_time, one_line, plain_table, short_id

if TYPE_CHECKING:
    from genvault import PublicLink, Share, SharedGeneration, SharedWithMe

__all__ = ["app", "link_app", "parse_duration", "share_app", "shared_app"]

PANEL = "Sharing"

app = typer.Typer()
share_app = typer.Typer(
    cls=default_command_group("add"),
    help="Let another genvault user see an image or a collection, read-only: "
    "`gen share ID EMAIL`, `gen share --collection NAME EMAIL`.",
    no_args_is_help=True,
    subcommand_metavar="ID EMAIL | --collection NAME EMAIL | COMMAND [ARGS]...",
)
shared_app = typer.Typer(
    cls=default_command_group("list"),
    help="What others shared with you: `gen shared` lists the images, "
    "`gen shared download ID` saves one.",
)
link_app = typer.Typer(
    help="Public links: anyone with the link sees an image or a collection, until it expires.",
    no_args_is_help=True,
)

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


def _what(generation_id: str | None, collection_name: str | None) -> str:
    if generation_id is not None:
        return f"image {short_id(generation_id)}"
    return f"collection {collection_name or '?'}"


# -- sharing with a user -----------------------------------------------------------------


@share_app.command("add")
def share_add(
    ctx: typer.Context,
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="[ID] EMAIL",
            help="The generation id (or 8+ character prefix), unless --collection, then the "
            "other user's email address.",
        ),
    ],
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Let another user see a generation or a collection, read-only (`gen share ID EMAIL`)."""
    wanted = 1 if collection is not None else 2
    if len(targets) != wanted:
        form = "--collection NAME EMAIL" if collection is not None else "ID EMAIL"
        raise typer.BadParameter(f"give {form}", param_hint="[ID] EMAIL")
    email = targets[-1]
    st = state(ctx)
    client = st.ready_client()
    if collection is not None:
        target = client.collections.resolve(collection)
        made = client.sharing.share(email, collection_id=target.id)
        what = f"the collection {target.name}"
        made_dict = {**made.to_dict(), "collection_name": target.name}
    else:
        gen = client.generations.resolve(targets[0])
        made = client.sharing.share(email, generation_id=gen.id)
        what = f"{short_id(gen.id)} ({one_line(gen.prompt)[:40]})"
        made_dict = made.to_dict()
    if as_json:
        st.output.json(made_dict)
        return
    st.output.out.print(Text(f"shared {what} with {made.recipient_email}"))
    st.output.hint(f"share {short_id(made.id)}; end it with: gen unshare {short_id(made.id)}")


@share_app.command("list")
def share_list(
    ctx: typer.Context,
    with_me: Annotated[
        bool, typer.Option("--with-me", help="What others shared with you, and who.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """What you shared and with whom, newest first; --with-me for the other way round."""
    st = state(ctx)
    sharing = st.ready_client().sharing
    out = st.output
    if with_me:
        theirs = sharing.shared_with_me()
        if as_json:
            out.json([s.to_dict() for s in theirs])
        elif not theirs:
            out.hint("nobody has shared anything with you yet")
        else:
            out.out.print(_theirs_table(theirs))
        return
    mine = sharing.shares()
    if as_json:
        out.json([s.to_dict() for s in mine])
    elif not mine:
        out.hint("you have not shared anything; share with: gen share ID EMAIL")
    else:
        out.out.print(_mine_table(mine))


def _mine_table(shares: "list[Share]") -> Table:
    table = plain_table("share", "what", "with", "since")
    for item in shares:
        table.add_row(
            short_id(item.id),
            Text(_what(item.generation_id, item.collection_name)),
            Text(item.recipient_email),
            local_time(item.created_at),
        )
    return table


def _theirs_table(shares: "list[SharedWithMe]") -> Table:
    table = plain_table("share", "what", "from", "images", "since")
    table.columns[3].justify = "right"
    for item in shares:
        table.add_row(
            short_id(item.id),
            Text(_what(item.generation_id, item.collection_name)),
            Text(item.shared_by),
            str(item.images),
            local_time(item.created_at),
        )
    return table


@app.command(rich_help_panel=PANEL)
def unshare(
    ctx: typer.Context,
    share_id: Annotated[
        str,
        typer.Argument(
            metavar="SHARE_ID",
            help="The share's id (or first 8+ characters) from `gen share list`.",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """End a share at once: the other user no longer sees it."""
    st = state(ctx)
    sharing = st.ready_client().sharing
    target = sharing.resolve_share(share_id)
    if not sharing.unshare(target.id):  # ended meanwhile
        raise NotFound(f"you have no share {share_id!r}", hint="list them with `gen share list`")
    if as_json:
        st.output.json({**target.to_dict(), "ended": True})
        return
    what = _what(target.generation_id, target.collection_name)
    st.output.out.print(
        Text(
            f"ended the share {short_id(target.id)}: {target.recipient_email} no longer sees {what}"
        )
    )


# -- what others shared ---------------------------------------------------------------------


def _shared_table(items: "list[SharedGeneration]", width: int) -> Table:
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
    out.out.print(_shared_table(page.items, out.out.width))
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


# -- public links ------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdwy]?)\s*$")
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "": timedelta(days=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


def parse_duration(value: str, option: str) -> timedelta:
    """A length of time such as 30m, 12h, 7d, 2w or 1y (a bare number means days)."""
    match = _DURATION.match(value.lower())
    if not match:
        raise typer.BadParameter(
            f"{value!r} is not a length of time; use e.g. 30m, 12h, 7d, 2w", param_hint=option
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def _link_state(link: "PublicLink") -> str:
    if link.revoked_at is not None:
        return "revoked"
    return "open" if link.active else "expired"


@link_app.command("create")
def link_create(
    ctx: typer.Context,
    generation_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="The generation id (or 8+ character prefix); leave out with --collection.",
            show_default=False,
        ),
    ] = None,
    collection: CollectionOpt = None,
    expires: Annotated[
        str,
        typer.Option(
            "--expires",
            metavar="TIME",
            help="How long the link opens: 30m, 12h, 7d, 2w (1 minute to 366 days).",
        ),
    ] = "7d",
    as_json: JsonOpt = False,
) -> None:
    """Make a link that shows a generation or a collection to anyone who has it.

    The token is printed once and kept nowhere: copy it now.
    """
    if (generation_id is None) == (collection is None):
        raise typer.BadParameter("give a generation ID or --collection NAME", param_hint="[ID]")
    lifetime = parse_duration(expires, "--expires")
    st = state(ctx)
    client = st.ready_client()
    if collection is not None:
        target = client.collections.resolve(collection)
        link = client.sharing.create_link(collection_id=target.id, expires_in=lifetime)
        what = f"the collection {target.name}"
        name: str | None = target.name
    else:
        assert generation_id is not None
        gen = client.generations.resolve(generation_id)
        link = client.sharing.create_link(generation_id=gen.id, expires_in=lifetime)
        what = short_id(gen.id)
        name = None
    path = f"/l/{link.token}"
    if as_json:
        st.output.json({**link.to_dict(), "collection_name": name, "path": path})
        return
    out = st.output
    out.out.print(
        Text(f"link {short_id(link.id)} to {what}, open until {local_time(link.expires_at)}")
    )
    out.out.print(Text(f"token    {link.token}"))
    out.out.print(Text(f"gallery  {path}  (in `gen ui`)"))
    out.hint(
        "the token is shown only now; anyone who has it sees the image(s) until the link "
        f"expires; end it sooner with: gen link revoke {short_id(link.id)}"
    )


@link_app.command("list")
def link_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Your links, newest first, and whether each still opens (tokens are not kept)."""
    st = state(ctx)
    found = st.ready_client().sharing.links()
    if as_json:
        st.output.json([link.to_dict() for link in found])
        return
    if not found:
        st.output.hint("no links yet; make one with: gen link create ID")
        return
    table = plain_table("link", "what", "created", "expires", "state")
    for link in found:
        table.add_row(
            short_id(link.id),
            Text(_what(link.generation_id, link.collection_name)),
            local_time(link.created_at),
            local_time(link.expires_at),
            _link_state(link),
        )
    st.output.out.print(table)


@link_app.command("revoke")
def link_revoke(
    ctx: typer.Context,
    link_id: Annotated[
        str,
        typer.Argument(
            metavar="LINK_ID", help="The link's id (or first 8+ characters) from `gen link list`."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """End a link at once: it no longer opens."""
    st = state(ctx)
    sharing = st.ready_client().sharing
    link = sharing.resolve_link(link_id)
    if link.revoked_at is not None or not sharing.revoke_link(link.id):
        raise NotFound(
            f"the link {short_id(link.id)} was already revoked",
            hint="list them with `gen link list`",
        )
    if as_json:
        st.output.json({**link.to_dict(), "active": False, "revoked": True})
        return
    st.output.out.print(Text(f"revoked the link {short_id(link.id)}; it no longer opens"))


@link_app.command("open")
def link_open(
    ctx: typer.Context,
    token: Annotated[
        str, typer.Argument(help="The link's token, or the whole link ending in /l/TOKEN.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """What a link shows, as a visitor without an account sees it."""
    st = state(ctx)
    items = st.ready_client().open_link(token)
    first = items[0]
    summary: dict[str, Any] = {
        "shared_by": first.shared_by,
        "collection_name": first.collection_name,
        "expires_at": first.expires_at,
        "items": [g.to_dict() for g in items],
    }
    if as_json:
        st.output.json(summary)
        return
    out = st.output
    what = f"the collection {first.collection_name}" if first.collection_name else "an image"
    out.out.print(
        Text(
            f"{first.shared_by or 'someone'} shares {what}; "
            f"the link opens until {local_time(first.expires_at)}"
        )
    )
    out.out.print(_shared_table(items, out.out.width))
