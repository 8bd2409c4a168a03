"""Sharing with another genvault user, read-only for them: `gen share` and `gen unshare`."""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from genvault import NotFound
from genvault.cli._context import JsonOpt, default_command_group, state
from genvault.cli._render import local_time, one_line, plain_table, short_id
from genvault.cli._sharing import CollectionOpt, subject

if TYPE_CHECKING:
    from genvault import Share, SharedWithMe

__all__ = ["app", "share_app"]

app = typer.Typer()
share_app = typer.Typer(
    cls=default_command_group("add"),
    help="Let another genvault user see an image or a collection, read-only: "
    "`gen share ID EMAIL`, `gen share --collection NAME EMAIL`.",
    no_args_is_help=True,
    subcommand_metavar="ID EMAIL | --collection NAME EMAIL | COMMAND [ARGS]...",
)


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
            Text(subject(item.generation_id, item.collection_name)),
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
            Text(subject(item.generation_id, item.collection_name)),
            Text(item.shared_by),
            str(item.images),
            local_time(item.created_at),
        )
    return table


@app.command()
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
    what = subject(target.generation_id, target.collection_name)
    st.output.out.print(
        Text(
            f"ended the share {short_id(target.id)}: {target.recipient_email} no longer sees {what}"
        )
    )
