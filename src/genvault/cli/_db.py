"""Database upkeep for operators: migrate, verify, debug.

These connect directly as the database owner: the embedded server, DATABASE_URL,
or a hosted project's direct connection string set as DATABASE_URL.
"""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from genvault import GenvaultError
from genvault.cli._context import JsonOpt, State, backend_description, state
from genvault.cli._render import plain_table

if TYPE_CHECKING:
    from genvault import Upkeep

__all__ = ["app"]

app = typer.Typer(
    help="Database upkeep: apply migrations, verify the schema, run debugging queries.",
    no_args_is_help=True,
)


def _upkeep(st: State) -> "Upkeep":
    """Upkeep over the direct owner connection (hosted profiles need DATABASE_URL)."""
    from genvault import Upkeep

    return Upkeep(st.ready_client().database_url())


_STATUS_STYLE = {
    "applied": "green",
    "reapplied": "green",
    "unchanged": "dim",
    "skipped": "yellow",
    "drift": "bold red",
}


@app.command()
def migrate(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Apply genvault's SQL migrations that are not applied yet (safe to repeat)."""
    from genvault import Upkeep

    st = state(ctx)
    out = st.output
    settings = st.settings()
    if settings.embedded:
        # The Client migrates the embedded database as it starts it; start it
        # here without that, so that this command reports what it applied.
        with out.status("starting the embedded PostgreSQL…"):
            upkeep = Upkeep.embedded(settings)
    else:
        upkeep = _upkeep(st)
    with out.status("migrating…"):
        results = upkeep.migrate()
    if as_json:
        out.json([{"name": r.name, "status": r.status, "detail": r.detail} for r in results])
    else:
        table = plain_table("migration", "status", "detail")
        for r in results:
            table.add_row(r.name, Text(r.status, style=_STATUS_STYLE.get(r.status, "")), r.detail)
        out.out.print(table)
    drifted = [r.name for r in results if r.status == "drift"]
    if drifted:
        raise GenvaultError(
            f"{len(drifted)} applied migration{'s' if len(drifted) > 1 else ''} changed since: "
            + ", ".join(drifted),
            hint="migrations are append-only; put the change in a new migration file",
        )


@app.command()
def verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the schema: tables, row level security, policies, grants, indexes.

    Exits with 1 when any check fails.
    """
    st = state(ctx)
    out = st.output
    checks = _upkeep(st).verify()
    if as_json:
        out.json([{"check": c, "ok": ok, "detail": d} for c, ok, d in checks])
    else:
        table = plain_table("", "check", "detail")
        for check, ok, detail in checks:
            mark = Text("✓", style="green") if ok else Text("✗", style="bold red")
            table.add_row(mark, Text(check), Text(detail))
        out.out.print(table)
    failed = [c for c, ok, _ in checks if not ok]
    if failed:
        raise GenvaultError(
            f"{len(failed)} of {len(checks)} checks failed",
            hint="apply the migrations with `gen db migrate`, then verify again",
        )
    if not as_json:
        out.note(f"all {len(checks)} checks passed")


# -- debug ----------------------------------------------------------------------


@app.command()
def debug(
    ctx: typer.Context,
    show_path: Annotated[
        bool,
        typer.Option("--path", help="Only print where the queries are, to paste them elsewhere."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the read-only debugging queries and print each result.

    They show who the session acts as, row level security and its policies,
    grants, recent rows, credit consistency and storage use. For a hosted
    project without DATABASE_URL, this prints where the file is, to paste into
    the Supabase SQL editor.
    """
    from genvault import Upkeep

    st = state(ctx)
    out = st.output
    path = Upkeep.debug_file()
    settings = st.settings()
    if show_path or settings.hosted:
        if as_json:
            out.json({"path": path, "ran": False})
            return
        out.out.print(Text(str(path)))
        where = (
            f"the SQL editor of {settings.supabase_url}"
            if settings.hosted
            else "psql or an SQL editor"
        )
        out.hint(f"paste it into {where} and run it; every statement is read-only")
        if settings.hosted:
            out.hint(
                "or set DATABASE_URL to the project's direct connection string and run this again"
            )
        return
    results = _upkeep(st).debug_queries()
    if as_json:
        out.json(
            {
                "path": path,
                "ran": True,
                "results": [
                    {
                        "title": r.title,
                        "sql": r.sql,
                        "columns": r.columns,
                        "rows": r.rows,
                        "error": r.error,
                    }
                    for r in results
                ],
            }
        )
        return
    out.note(
        f"{len(results)} read-only queries from {escape(str(path))} on "
        f"{escape(backend_description(settings))}"
    )
    for index, r in enumerate(results, 1):
        heading = Text.assemble((f"{index}. {r.title}", "bold"))
        if r.error is not None:
            out.out.print(heading)
            out.out.print(Text(f"   failed: {r.error}", style="red"))
            continue
        if not r.columns:
            out.out.print(heading)
            out.out.print(Text("   (no result)", style="dim"))
            continue
        table = plain_table(*r.columns)
        table.title = heading
        for row in r.rows:
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        if not r.rows:
            table.caption = "(no rows)"
        out.out.print(table)
        out.out.print()
