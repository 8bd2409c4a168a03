"""Operator commands: figures over every user, retention purge, credit grants.

They need a direct database connection (the embedded server or DATABASE_URL)
or a hosted project's service role key; the library refuses them otherwise
with PermissionDenied, before anything is sent.
"""

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from genvault.cli._context import JsonOpt, State, confirm, state
from genvault.cli._render import human_bytes, local_time, one_line, plain_table, plural

if TYPE_CHECKING:
    from genvault import AdminRepo

__all__ = ["app", "parse_age"]

app = typer.Typer(
    help="Operator commands (direct database connection or service role key).",
    no_args_is_help=True,
)

LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="How many rows.")]


def _admin(st: State) -> "AdminRepo":
    return st.ready_client().admin()


@app.command("stats")
def admin_stats(ctx: typer.Context, limit: LimitOpt = 50, as_json: JsonOpt = False) -> None:
    """Images per user: the users with the most images first."""
    st = state(ctx)
    rows = _admin(st).images_per_user(limit=limit)
    if as_json:
        st.output.json(rows)
        return
    table = plain_table("user", "images", "first", "latest")
    table.columns[1].justify = "right"
    for row in rows:
        table.add_row(
            str(row["user_id"]),
            str(row["images"]),
            local_time(row["first_at"]),
            local_time(row["last_at"]),
        )
    st.output.out.print(table)
    if not rows:
        st.output.hint("no images yet")


@app.command()
def popular(ctx: typer.Context, limit: LimitOpt = 20, as_json: JsonOpt = False) -> None:
    """The most repeated prompts, across every user."""
    st = state(ctx)
    rows = _admin(st).popular_prompts(limit=limit)
    if as_json:
        st.output.json(rows)
        return
    table = plain_table("uses", "users", "prompt", "latest")
    table.columns[0].justify = "right"
    table.columns[1].justify = "right"
    table.columns[2].overflow = "ellipsis"
    table.columns[2].no_wrap = True
    table.columns[2].ratio = 1
    for row in rows:
        table.add_row(
            str(row["uses"]),
            str(row["users"]),
            Text(one_line(str(row["prompt"]))),
            local_time(row["last_at"]),
        )
    st.output.out.print(table)
    if not rows:
        st.output.hint("no prompts yet")


@app.command()
def trends(
    ctx: typer.Context,
    week: Annotated[bool, typer.Option("--week", help="Per week instead of per day.")] = False,
    periods: Annotated[
        int,
        typer.Option("--periods", min=1, max=3660, help="How many days (or weeks) back."),
    ] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Images and active users per day (or week), empty periods included."""
    st = state(ctx)
    bucket = "week" if week else "day"
    rows = _admin(st).trends(bucket=bucket, periods=periods)
    if as_json:
        st.output.json(rows)
        return
    table = plain_table(bucket, "images", "users", "")
    table.columns[1].justify = "right"
    table.columns[2].justify = "right"
    most = max((int(r["images"]) for r in rows), default=0) or 1
    for row in rows:
        images = int(row["images"])
        bar = "█" * round(24 * images / most)
        start = row["period_start"]
        label = start.date().isoformat() if hasattr(start, "date") else str(start)[:10]
        table.add_row(label, str(images), str(row["users"]), Text(bar, style="cyan"))
    st.output.out.print(table)


@app.command()
def storage(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """How much the images take in storage, and the size of the table."""
    st = state(ctx)
    figures = _admin(st).storage_estimate()
    if as_json:
        st.output.json(figures)
        return
    grid = plain_table("field", "value")
    grid.show_header = False
    grid.columns[0].style = "bold"
    grid.add_row("images", str(figures.get("images", 0)))
    grid.add_row("users", str(figures.get("users", 0)))
    grid.add_row("measured", human_bytes(figures.get("known_bytes")))
    grid.add_row(
        "estimated",
        f"{human_bytes(figures.get('estimated_bytes'))} (rows without a size counted at the mean)",
    )
    grid.add_row("table", f"{human_bytes(figures.get('table_bytes'))} (rows and indexes)")
    st.output.out.print(grid)


_AGE = re.compile(r"^\s*(\d+)\s*([dwy]?)\s*$")
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "y": 365}


def parse_age(value: str) -> timedelta:
    """An age such as 90d, 12w or 1y (a bare number means days)."""
    match = _AGE.match(value.lower())
    if not match:
        raise typer.BadParameter(
            f"{value!r} is not an age; use a number of days, weeks or years such as 90d, 12w, 1y",
            param_hint="--older-than",
        )
    return timedelta(days=int(match.group(1)) * _UNIT_DAYS[match.group(2)])


@app.command()
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Remove generations older than this: 90d, 12w, 1y (at least 1 day).",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Retention: remove every user's generations older than an age, files included."""
    age = parse_age(older_than)
    st = state(ctx)
    out = st.output
    repo = _admin(st)
    if not dry_run and not yes:
        found = repo.purge(age, dry_run=True)
        if found.generations == 0:
            dry_run = True
        elif not confirm(
            out,
            f"Permanently delete {plural(found.generations, 'generation')} older than "
            f"{plural(age.days, 'day')} and {plural(found.files, 'stored file')}, of every user?",
        ):
            out.note("nothing was removed")
            raise typer.Exit(1)
    result = repo.purge(age, dry_run=dry_run)
    if as_json:
        out.json(
            {
                "older_than_days": age.days,
                "generations": result.generations,
                "files": result.files,
                "dry_run": result.dry_run,
            }
        )
        return
    verb = "would remove" if result.dry_run else "removed"
    out.out.print(
        f"{verb} {plural(result.generations, 'generation')} and "
        f"{plural(result.files, 'stored file')} older than {plural(age.days, 'day')}"
    )


@app.command()
def grant(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user's id or email address.")],
    amount: Annotated[
        int,
        typer.Argument(help="Credits to add; a negative number (after --) removes credits."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Give a user credits (or take some back)."""
    if amount == 0:
        raise typer.BadParameter("give a number other than 0", param_hint="AMOUNT")
    st = state(ctx)
    balance = _admin(st).grant(user, amount)
    result: dict[str, Any] = {"user": user, "amount": amount, "balance": balance}
    if as_json:
        st.output.json(result)
        return
    verb = "added" if amount > 0 else "removed"
    st.output.out.print(f"{verb} {plural(abs(amount), 'credit')} for {user}; balance now {balance}")


@app.command("purge-trash")
def purge_trash(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Delete what has been in the trash longer than this: 30d, 4w (0 for all).",
        ),
    ] = "30d",
    as_json: JsonOpt = False,
) -> None:
    """Retention: delete for good every user's images that have sat in the trash too long.

    Users are told the trash keeps images for 30 days; run this daily (cron) to
    keep that promise. Stored files go too.
    """
    age = parse_age(older_than)
    st = state(ctx)
    result = _admin(st).purge_trash(age)
    if as_json:
        st.output.json(
            {"older_than_days": age.days, "generations": result.generations, "files": result.files}
        )
        return
    st.output.out.print(
        f"removed {plural(result.generations, 'generation')} and "
        f"{plural(result.files, 'stored file')} that were in the trash longer than "
        f"{plural(age.days, 'day')}"
    )
