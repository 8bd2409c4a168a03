"""Organising the history: stars, tags and collections.

The trash is in :mod:`genvault.cli._trash`, prompt templates in
:mod:`genvault.cli._templates`.
"""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from genvault import InvalidInput
from genvault.cli._context import JsonOpt, State, state
from genvault.cli._history import BeforeOpt, IdsArg, LimitOpt, find_page, show_page
from genvault.cli._ids import find_generations
from genvault.cli._render import local_time, plain_table, plural

if TYPE_CHECKING:
    from genvault import GenerationsRepo

__all__ = ["app", "collection_app", "quoted"]

app = typer.Typer()
collection_app = typer.Typer(
    help="Named groups of your images (an image can be in several).", no_args_is_help=True
)

CollectionArg = Annotated[str, typer.Argument(metavar="NAME", help="The collection's name.")]


def _generations(st: State) -> "GenerationsRepo":
    return st.ready_client().generations


# -- stars and tags -------------------------------------------------------------------


def _star(ctx: typer.Context, values: list[str], *, starred: bool, as_json: bool) -> None:
    st = state(ctx)
    repo = _generations(st)
    found = find_generations(repo, values)
    changed = set(repo.star([g.id for g in found], starred=starred))
    report = [{"id": g.id, "starred": starred} for g in found if g.id in changed]
    if as_json:
        st.output.json(report)
        return
    verb = "starred  " if starred else "unstarred"
    for row in report:
        st.output.out.print(Text(f"{verb} {row['id']}"))


@app.command()
def star(ctx: typer.Context, generation_ids: IdsArg, as_json: JsonOpt = False) -> None:
    """Star generations (`gen list --starred` shows only those)."""
    _star(ctx, generation_ids, starred=True, as_json=as_json)


@app.command()
def unstar(ctx: typer.Context, generation_ids: IdsArg, as_json: JsonOpt = False) -> None:
    """Take the star off generations."""
    _star(ctx, generation_ids, starred=False, as_json=as_json)


def _tag_list(values: list[str] | None) -> list[str]:
    from genvault import GenerationsRepo

    names = [part for value in values or () for part in value.split(",")]
    return GenerationsRepo.clean_tags(names) if names else []


@app.command()
def tag(
    ctx: typer.Context,
    generation_ids: IdsArg,
    add: Annotated[
        list[str] | None,
        typer.Option(
            "--add",
            "-a",
            metavar="TAG,...",
            help="Tags to add, separated by commas (any case; stored lower-case).",
            show_default=False,
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            "--remove",
            "-r",
            metavar="TAG,...",
            help="Tags to take off, separated by commas.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add tags to generations, or take them off (up to 20 tags an image)."""
    if not add and not remove:
        raise typer.BadParameter("give --add TAG or --remove TAG", param_hint="--add")
    adding = _tag_list(add)
    removing = _tag_list(remove)
    both = sorted(set(adding) & set(removing))
    if both:
        raise InvalidInput(
            f"{', '.join(both)} is both added and removed", hint="give each tag once"
        )
    st = state(ctx)
    repo = _generations(st)
    ids = [g.id for g in find_generations(repo, generation_ids)]
    added = repo.tag(ids, adding) if adding else 0
    removed = repo.untag(ids, removing) if removing else 0
    if as_json:
        st.output.json(
            {"ids": ids, "added": adding, "removed": removing, "new": added, "taken_off": removed}
        )
        return
    images = plural(len(ids), "image")
    if adding:
        st.output.out.print(
            Text(f"tagged {images} with {', '.join(adding)} ({plural(added, 'new tag')})")
        )
    if removing:
        st.output.out.print(
            Text(f"took {', '.join(removing)} off {images} ({plural(removed, 'tag')} removed)")
        )


@app.command()
def tags(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Your tags, most used first, with how many images carry each."""
    st = state(ctx)
    found = _generations(st).tags()
    if as_json:
        st.output.json([{"tag": t.tag, "images": t.images} for t in found])
        return
    if not found:
        st.output.hint("no tags yet; add some with: gen tag ID --add portrait,night")
        return
    table = plain_table("tag", "images")
    table.columns[1].justify = "right"
    for item in found:
        table.add_row(Text(item.tag), str(item.images))
    st.output.out.print(table)


# -- collections ---------------------------------------------------------------------


@collection_app.command("create")
def collection_create(ctx: typer.Context, name: CollectionArg, as_json: JsonOpt = False) -> None:
    """Make a new, empty collection."""
    st = state(ctx)
    made = st.ready_client().collections.create(name)
    if as_json:
        st.output.json(made.to_dict())
        return
    st.output.out.print(Text(f"created the collection {made.name}"))
    st.output.hint(f"add images with: gen collection add {quoted(made.name)} ID...")


@collection_app.command("rename")
def collection_rename(
    ctx: typer.Context,
    name: CollectionArg,
    new_name: Annotated[str, typer.Argument(metavar="NEW", help="The new name.")],
    as_json: JsonOpt = False,
) -> None:
    """Give a collection a new name."""
    st = state(ctx)
    renamed = st.ready_client().collections.rename(name, new_name)
    if as_json:
        st.output.json(renamed.to_dict())
        return
    st.output.out.print(Text(f"renamed the collection {name.strip()} to {renamed.name}"))


@collection_app.command("delete")
def collection_delete(ctx: typer.Context, name: CollectionArg, as_json: JsonOpt = False) -> None:
    """Delete a collection; its images stay in your history (its shares and links end)."""
    st = state(ctx)
    collections = st.ready_client().collections
    target = collections.resolve(name)
    collections.delete(target.id)
    if as_json:
        st.output.json({**target.to_dict(), "deleted": True})
        return
    st.output.out.print(
        Text(
            f"deleted the collection {target.name}; its {plural(target.images, 'image')} "
            "stay in your history"
        )
    )


@collection_app.command("list")
def collection_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Your collections by name, with how many images each holds."""
    st = state(ctx)
    found = st.ready_client().collections.list()
    if as_json:
        st.output.json([c.to_dict() for c in found])
        return
    if not found:
        st.output.hint('no collections yet; make one with: gen collection create "Best of"')
        return
    table = plain_table("name", "images", "updated")
    table.columns[1].justify = "right"
    for item in found:
        table.add_row(Text(item.name), str(item.images), local_time(item.updated_at))
    st.output.out.print(table)


@collection_app.command("add")
def collection_add(
    ctx: typer.Context, name: CollectionArg, generation_ids: IdsArg, as_json: JsonOpt = False
) -> None:
    """Put generations in a collection."""
    st = state(ctx)
    client = st.ready_client()
    target = client.collections.resolve(name)
    ids = [g.id for g in find_generations(client.generations, generation_ids)]
    added = client.collections.add(target.id, ids)
    if as_json:
        st.output.json({"collection": target.name, "ids": ids, "added": added})
        return
    already = len(ids) - added
    note = f" ({already} already there)" if already else ""
    st.output.out.print(Text(f"added {plural(added, 'image')} to {target.name}{note}"))


@collection_app.command("remove")
def collection_remove(
    ctx: typer.Context, name: CollectionArg, generation_ids: IdsArg, as_json: JsonOpt = False
) -> None:
    """Take generations out of a collection (they stay in your history)."""
    st = state(ctx)
    client = st.ready_client()
    target = client.collections.resolve(name)
    ids = [g.id for g in find_generations(client.generations, generation_ids, scope="any")]
    removed = client.collections.remove(target.id, ids)
    if as_json:
        st.output.json({"collection": target.name, "ids": ids, "removed": removed})
        return
    absent = len(ids) - removed
    note = f" ({absent} not in it)" if absent else ""
    st.output.out.print(Text(f"removed {plural(removed, 'image')} from {target.name}{note}"))


@collection_app.command("show")
def collection_show(
    ctx: typer.Context,
    name: CollectionArg,
    limit: LimitOpt = 20,
    before: BeforeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The images in a collection, newest first, a page at a time."""
    from genvault import HistoryFilter

    st = state(ctx)
    client = st.ready_client()
    target = client.collections.resolve(name)
    where = HistoryFilter(collection_id=target.id)
    page = find_page(client.generations, where, limit=limit, before=before)
    again = ["collection", "show", name] + (["--limit", str(limit)] if limit != 20 else [])
    empty = (
        f"{target.name} is empty; add images with: gen collection add {quoted(target.name)} ID..."
        if before is None
        else "no more images"
    )
    show_page(st, page, as_json=as_json, again=again, empty=empty)


def quoted(value: str) -> str:
    """``value`` as one shell word."""
    import shlex

    return shlex.quote(value)
