"""Public links: anyone who has one sees an image or a collection until it expires."""

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from genvault import NotFound
from genvault.cli._context import JsonOpt, state
from genvault.cli._render import local_time, plain_table, short_id
from genvault.cli._sharing import CollectionOpt, shared_table, subject

if TYPE_CHECKING:
    from genvault import PublicLink

__all__ = ["link_app", "parse_duration"]

link_app = typer.Typer(
    help="Public links: anyone with the link sees an image or a collection, until it expires.",
    no_args_is_help=True,
)

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
            Text(subject(link.generation_id, link.collection_name)),
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
    out.out.print(shared_table(items, out.out.width))
