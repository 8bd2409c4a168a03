"""Deleting: `gen delete` to the trash or for good, `gen trash` and `gen restore`.

Deleted generations wait 30 days in the trash; `gen delete --permanent` and
`gen trash empty` remove them and their stored images for good.
"""

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from genvault.cli._context import JsonOpt, State, confirm, default_command_group, state
from genvault.cli._history import BeforeOpt, IdsArg, LimitOpt, find_page, show_page
from genvault.cli._ids import sort_out_generations
from genvault.cli._render import Output, generations_table, plural, short_id

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo

__all__ = ["app", "trash_app"]

app = typer.Typer()
trash_app = typer.Typer(
    cls=default_command_group("list"),
    help="What you deleted, kept for 30 days: `gen trash` lists it, `gen trash empty` "
    "deletes it for good.",
)


# -- deleting ------------------------------------------------------------------------


@app.command()
def delete(
    ctx: typer.Context,
    generation_ids: IdsArg,
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
        _print_outcomes(out, report, "deleted")
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
        _print_outcomes(out, report, "trashed", already=already, note="it already was")
        back = [short_id(g.id) for g in found if g.id in moved]
        if back:
            undo = " ".join(back)
            out.hint(f"moved to the trash, kept there for 30 days; undo with: gen restore {undo}")
    if any(not row["trashed"] for row in report):
        raise typer.Exit(1)


# -- the trash ---------------------------------------------------------------------


@trash_app.command("list")
def trash_list(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    before: BeforeOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Everything in the trash.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """What is in the trash (the default of `gen trash`), newest first."""
    from genvault import HistoryFilter

    st = state(ctx)
    where = HistoryFilter(trash=True)
    page = find_page(st.ready_client().generations, where, limit=limit, before=before, every=every)
    again = ["trash"] + (["--limit", str(limit)] if limit != 20 else [])
    empty = "the trash is empty" if before is None else "nothing more in the trash"
    show_page(st, page, as_json=as_json, again=again, empty=empty, trashed=True)
    if page.items and not as_json and page.next_cursor is None:
        st.output.hint("restore with: gen restore ID; delete for good with: gen trash empty")


def _all_trash(repo: "GenerationsRepo") -> "list[Generation]":
    from genvault import HistoryFilter

    return find_page(repo, HistoryFilter(trash=True), limit=1, before=None, every=True).items


@trash_app.command("empty")
def trash_empty(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete everything in the trash for good, with the stored images (asks first)."""
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    if not yes:
        waiting = len(_all_trash(repo))
        if waiting and not confirm(
            out, f"Delete the {plural(waiting, 'generation')} in the trash for good?"
        ):
            out.note("nothing was deleted")
            raise typer.Exit(1)
    removed = repo.empty_trash()
    if as_json:
        out.json({"deleted": removed})
    elif removed:
        out.out.print(f"deleted {plural(removed, 'generation')} from the trash for good")
    else:
        out.hint("the trash is empty")


@app.command()
def restore(ctx: typer.Context, generation_ids: IdsArg, as_json: JsonOpt = False) -> None:
    """Bring generations back from the trash into the history.

    Reports each id; exits with 1 when any id was not found.
    """
    st = state(ctx)
    out = st.output
    repo = st.ready_client().generations
    found, missing = sort_out_generations(repo, generation_ids, scope="any")
    trashed = [g.id for g in found if g.trashed_at is not None]
    back = set(repo.restore(trashed)) if trashed else set()
    report: list[dict[str, Any]] = [
        {"id": g.id, "restored": g.id in back or g.trashed_at is None} for g in found
    ]
    report += [{"id": value, "restored": False} for value in missing]
    if as_json:
        out.json(report)
    else:
        already = {g.id for g in found if g.trashed_at is None}
        _print_outcomes(out, report, "restored", already=already, note="it was not in the trash")
    if any(not row["restored"] for row in report):
        raise typer.Exit(1)


def _print_outcomes(
    out: Output,
    report: list[dict[str, Any]],
    done: str,
    *,
    already: set[str] | frozenset[str] = frozenset(),
    note: str = "",
) -> None:
    """One line an id: ``done`` (with ``note`` for the ids in ``already``), or not found."""
    for row in report:
        if not row[done]:
            out.out.print(Text(f"not found {row['id']}", style="red"))
        else:
            aside = f" ({note})" if row["id"] in already else ""
            out.out.print(Text(f"{done:<9} {row['id']}{aside}"))
