"""Who you are and what you have: login, logout, whoami, credits, stats, account delete."""

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from genvault import InvalidInput, NotSignedIn
from genvault.cli._context import JsonOpt, ask, backend_description, confirm, state
from genvault.cli._render import (
    human_bytes,
    local_time,
    one_line,
    plain_table,
    plural,
    short_id,
)

__all__ = ["account_app", "app"]

app = typer.Typer()
account_app = typer.Typer(help="Your account as a whole.", no_args_is_help=True)


@app.command()
def login(
    ctx: typer.Context,
    local: Annotated[
        str | None,
        typer.Option(
            "--local",
            metavar="NAME",
            help="Sign in as the local user NAME (embedded or plain PostgreSQL); created on "
            "first use.",
            show_default=False,
        ),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option(
            "--email", help="Your email address (asked for when left out).", show_default=False
        ),
    ] = None,
    code: Annotated[
        bool,
        typer.Option(
            "--code", help="Email a one-time code and sign in with it instead of a password."
        ),
    ] = False,
) -> None:
    """Sign in: with email and password (or an emailed code) to a hosted project, or --local."""
    st = state(ctx)
    out = st.output
    if local is not None:
        if email is not None or code:
            raise typer.BadParameter(
                "--local does not take --email or --code", param_hint="--local"
            )
        client = st.ready_client()
        session = client.sign_in_local(local)
        out.note(
            f"signed in as [bold]{escape(session.email or local)}[/] (local user on the "
            f"{escape(backend_description(client.settings))})"
        )
        return
    settings = st.settings()
    if not settings.supabase_url:
        raise InvalidInput(
            "email sign-in needs a hosted Supabase project",
            hint="set SUPABASE_URL and SUPABASE_ANON_KEY, or use `gen login --local NAME`",
        )
    client = st.client()
    if email is None:
        email = ask(out, "email:")
        if not email:
            raise InvalidInput("no email address given", hint="pass --email or type it")
    if code:
        client.send_code(email)
        out.note(f"a sign-in code was sent to {escape(email)}")
        one_time = ask(out, "code:")
        if not one_time:
            raise InvalidInput("no code given", hint="type the code from the email")
        session = client.verify_code(email, one_time)
    else:
        password = str(typer.prompt("password", hide_input=True, err=True))
        session = client.sign_in(email, password)
    out.note(f"signed in as [bold]{escape(session.email or email)}[/] ({settings.supabase_url})")


@app.command()
def logout(ctx: typer.Context) -> None:
    """Sign out of this profile and forget the saved session."""
    st = state(ctx)
    client = st.client()
    session = client.session()
    client.sign_out()
    if session is None:
        st.output.note("nobody was signed in")
    else:
        st.output.note(f"signed out {session.email or session.user_id}")


@app.command()
def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Who is signed in on this profile, and where the data lives."""
    st = state(ctx)
    client = st.client()
    session = client.session()
    if session is None:
        raise NotSignedIn(
            "nobody is signed in",
            hint="sign in with `gen login` (or `gen login --local NAME`)",
        )
    info = {
        "email": session.email,
        "user_id": session.user_id,
        "kind": session.kind,
        "profile": client.settings.profile,
        "backend": backend_description(client.settings),
    }
    if as_json:
        st.output.json(info)
        return
    grid = plain_table("field", "value")
    grid.show_header = False
    grid.columns[0].style = "bold"
    for name in ("email", "user_id", "kind", "profile", "backend"):
        grid.add_row(name.replace("_", " "), Text(str(info[name] or "-")))
    st.output.out.print(grid)


_REASONS = {
    "reserve": "held for",
    "spend": "spent on",
    "refund": "refunded for",
}


@app.command()
def credits(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=500, help="How many ledger entries to show.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Your credit balance and its recent history."""
    st = state(ctx)
    repo = st.ready_client().credits
    balance = repo.balance()
    ledger = repo.ledger(limit=limit)
    if as_json:
        st.output.json(
            {
                "balance": balance,
                "ledger": [
                    {
                        "id": e.id,
                        "delta": e.delta,
                        "reason": e.reason,
                        "created_at": e.created_at,
                        "generation_id": e.generation_id,
                    }
                    for e in ledger
                ],
            }
        )
        return
    out = st.output.out
    out.print(
        Text.assemble(
            "balance: ", (str(balance), "bold"), " credits" if balance != 1 else " credit"
        )
    )
    if not ledger:
        return
    table = plain_table("when", "change", "what", title="recent changes")
    table.columns[1].justify = "right"
    for entry in ledger:
        change = f"{entry.delta:+d}" if entry.delta else "·"
        what = entry.reason
        if entry.generation_id:
            what = f"{_REASONS.get(entry.reason, entry.reason)} {short_id(entry.generation_id)}"
        table.add_row(local_time(entry.created_at), change, what)
    out.print(table)


@app.command()
def stats(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, max=3660, help="How many days back per day and week.")
    ] = 30,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="How many top prompts.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Your usage: totals, images per day and per week, most used prompts."""
    st = state(ctx)
    figures = st.ready_client().generations.stats(days=days, top=top)
    if as_json:
        st.output.json(figures)
        return
    out = st.output.out
    summary = plain_table("field", "value")
    summary.show_header = False
    summary.columns[0].style = "bold"
    summary.add_row("images", f"{figures.get('total', 0)} ({human_bytes(figures.get('bytes'))})")
    summary.add_row("first", local_time(figures.get("first_at")))
    summary.add_row("latest", local_time(figures.get("last_at")))
    summary.add_row(
        "credits", f"{figures.get('credits') or 0} left, {figures.get('credits_spent', 0)} spent"
    )
    out.print(summary)
    for key, label, title in (
        ("per_day", "day", f"per day (last {days} days)"),
        ("per_week", "week", "per week"),
    ):
        rows: list[dict[str, Any]] = list(figures.get(key) or [])
        if not rows:
            continue
        out.print(_bars(rows, label, title))
    prompts: list[dict[str, Any]] = list(figures.get("top_prompts") or [])
    if prompts:
        table = plain_table("uses", "prompt", title="top prompts")
        table.columns[0].justify = "right"
        table.columns[1].overflow = "ellipsis"
        table.columns[1].no_wrap = True
        for row in prompts:
            table.add_row(str(row.get("uses")), Text(one_line(str(row.get("prompt")))))
        out.print(table)


def _bars(rows: list[dict[str, Any]], label: str, title: str) -> Any:
    table = plain_table(label, "images", "", title=title)
    table.columns[1].justify = "right"
    most = max(int(r.get("images") or 0) for r in rows) or 1
    for row in rows:
        images = int(row.get("images") or 0)
        table.add_row(
            str(row.get(label)),
            str(images),
            Text("█" * max(1, round(24 * images / most)), style="cyan"),
        )
    return table


@account_app.command("delete")
def account_delete(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase your account: every image, generation, credit and ledger entry, then sign out.

    Asks twice: the second time, type your email address (or the word "delete").
    """
    st = state(ctx)
    out = st.output
    client = st.ready_client()
    session = client.session()
    if session is None:
        raise NotSignedIn("nobody is signed in", hint="sign in with `gen login` first")
    who = session.email or session.user_id
    if not yes:
        total = client.generations.stats(days=1, top=1).get("total", 0)
        out.note(
            f"This erases the account [bold]{escape(who)}[/] for good: {total} image"
            f"{'' if total == 1 else 's'}, the credits and their history. It cannot be undone."
        )
        if not confirm(out, "Delete this account?"):
            out.note("nothing was removed")
            raise typer.Exit(1)
        typed = ask(out, f'Type "{who}" or "delete" to confirm:') or ""
        if typed.lower() not in (who.lower(), "delete"):
            out.note("that did not match; nothing was removed")
            raise typer.Exit(1)
    removed = client.delete_account()
    if as_json:
        out.json({"email": session.email, "user_id": session.user_id, **removed})
        return
    counts = ", ".join(
        plural(removed.get(key, 0), word)
        for key, word in (
            ("generations", "generation"),
            ("files", "stored file"),
            ("ledger_entries", "ledger entry"),
        )
    )
    out.out.print(f"deleted the account {who}: {counts}; signed out")
