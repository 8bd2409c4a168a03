"""Database upkeep for operators: migrate, verify, debug.

These connect directly as the database owner: the embedded server, DATABASE_URL,
or a hosted project's direct connection string set as DATABASE_URL.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from genvault._exceptions import GenvaultError
from genvault.cli._context import JsonOpt, State, backend_description, state
from genvault.cli._render import plain_table

__all__ = ["DebugResult", "app", "split_sql"]

app = typer.Typer(
    help="Database upkeep: apply migrations, verify the schema, run debugging queries.",
    no_args_is_help=True,
)


def _owner_url(st: State) -> str:
    """The direct owner connection for this profile (hosted profiles need DATABASE_URL)."""
    return st.ready_client().database_url()


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
    from genvault._migrate import migrate as run_migrations

    st = state(ctx)
    out = st.output
    settings = st.settings()
    if settings.embedded:
        # The Client migrates the embedded database as it starts it; start it
        # here without that, so that this command reports what it applied.
        from genvault._embedded import embedded_url

        with out.status("starting the embedded PostgreSQL…"):
            url = embedded_url(settings.home)
    else:
        url = _owner_url(st)
    with out.status("migrating…"):
        results = run_migrations(url)
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
    from genvault._migrate import verify as run_checks

    st = state(ctx)
    out = st.output
    checks = run_checks(_owner_url(st))
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


@dataclass
class DebugResult:
    """One statement of debug_queries.sql and what it returned."""

    title: str
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None


_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_sql(text: str) -> list[str]:
    """Split a SQL script into statements, each with the comments before it.

    Semicolons inside quotes, dollar-quoted bodies and comments do not split.
    Chunks with no SQL left after removing comments are dropped.
    """
    chunks: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text[i] in "'\"":
            quote = text[i]
            i += 1
            while i < n:
                if text[i] == quote:
                    if i + 1 < n and text[i + 1] == quote:
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif text[i] == "$" and (match := _DOLLAR.match(text, i)):
            end = text.find(match.group(0), match.end())
            i = n if end < 0 else end + len(match.group(0))
        elif text[i] == ";":
            chunks.append(text[start : i + 1])
            start = i = i + 1
        else:
            i += 1
    chunks.append(text[start:])
    return [c.strip() for c in chunks if _code_of(c)]


_LEADING_COMMENT = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)", re.DOTALL)


def _code_of(chunk: str) -> str:
    """The statement without the comments before it and without its semicolon."""
    code = chunk
    while match := _LEADING_COMMENT.match(code):
        if not match.group(0):
            break
        code = code[match.end() :]
    return code.strip().rstrip(";").strip()


def _title_of(chunk: str) -> str:
    """The first sentence of the comment paragraph just above the statement."""
    paragraph: list[str] = []
    for line in chunk.strip().splitlines():
        stripped = line.strip()
        if not stripped:
            paragraph = []
            continue
        if not stripped.startswith("--"):
            break
        words = stripped[2:].strip()
        if words and not re.fullmatch(r"[-=*#\s]+", words):
            paragraph.append(words)
    text = " ".join(paragraph)
    if not text:
        return " ".join(_code_of(chunk).split())[:70]
    sentence = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= 90 else sentence[:89] + "…"


def run_debug_queries(url: str, script: str) -> list[DebugResult]:
    """Run each statement in its own read-only transaction, rolled back afterwards."""
    import psycopg

    results: list[DebugResult] = []
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.read_only = True
            conn.execute("set statement_timeout = '30s'")
            conn.commit()
            for chunk in split_sql(script):
                result = DebugResult(title=_title_of(chunk), sql=_code_of(chunk))
                try:
                    with conn.cursor() as cur:
                        cur.execute(result.sql.encode())
                        if cur.description is not None:
                            result.columns = [d.name for d in cur.description]
                            result.rows = [list(r) for r in cur.fetchall()]
                except psycopg.Error as exc:
                    result.error = (exc.diag.message_primary or str(exc)).strip()
                conn.rollback()
                results.append(result)
    except psycopg.OperationalError as exc:
        from genvault._exceptions import BackendUnreachable

        raise BackendUnreachable(f"could not connect to the database: {exc}") from exc
    return results


def _debug_file() -> Path:
    from genvault._migrate import sql_dir

    path = sql_dir() / "debug_queries.sql"
    if not path.is_file():
        raise GenvaultError(f"{path} is missing from this installation", hint="reinstall genvault")
    return path


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
    st = state(ctx)
    out = st.output
    path = _debug_file()
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
    url = _owner_url(st)
    results = run_debug_queries(url, path.read_text())
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
