"""The `gen` command: the root app, its global options, and the one error edge.

Each command group lives in its own module with its own Typer app, joined here
with ``add_typer``. Commands parse, call the library and render; they let
genvault's errors rise. :class:`_Edge` turns them into one red line, a hint and
exit code 1, in this one place. Usage errors stay Typer's own (exit code 2).
`gen --help` lists the commands under the headings of :data:`SECTIONS`.
"""

from __future__ import annotations

import sys
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from genvault import GenvaultError
from genvault.cli import (
    _account,
    _admin,
    _create,
    _db,
    _doctor,
    _export,
    _link,
    _listing,
    _organise,
    _share,
    _shared,
    _show,
    _templates,
    _trash,
    _ui,
)
from genvault.cli._context import State

__all__ = ["SECTIONS", "app", "main"]

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("History", ("create", "list", "search", "show", "open", "download", "delete", "export", "ui")),
    ("Organising", ("trash", "restore", "star", "unstar", "tag", "tags", "collection", "template")),
    ("Sharing", ("share", "unshare", "shared", "link")),
    ("Account", ("login", "logout", "whoami", "credits", "stats", "account", "doctor")),
    ("Operators", ("db", "admin")),
)
"""The headings of `gen --help` and the commands under each, in order. A command
missing here is still listed, under "Other commands"."""


class _Edge(TyperGroup):
    """The root command group; every command runs inside its ``invoke``."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except GenvaultError as exc:
            _fail(ctx, exc.message, exc.hint, exc)
        except BrokenPipeError:
            raise  # the reader went away (`gen list | head`); Typer exits quietly
        except KeyboardInterrupt:
            found = ctx.find_object(State)
            if found is not None:
                found.output.note("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            _fail(ctx, f"{exc.strerror or exc}{where}", None, exc)
        except Exception as exc:
            _fail(
                ctx,
                f"unexpected {type(exc).__name__}: {exc}",
                "this is a bug in genvault; run again with --debug to see where it happened",
                exc,
            )

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands under the headings of :data:`SECTIONS`, aligned as one list."""
        shown: dict[str, Any] = {}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                shown[name] = command
        if not shown:
            return
        width = max(len(name) for name in shown)
        limit = formatter.width - 6 - width  # as Typer's own list: short help cut alike
        for title, names in (*SECTIONS, ("Other commands", tuple(shown))):
            rows = [
                (name.ljust(width), shown.pop(name).get_short_help_str(limit))
                for name in names
                if name in shown
            ]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _fail(ctx: Any, message: str, hint: str | None, exc: BaseException) -> None:
    found = ctx.find_object(State)
    current = found if found is not None else State(profile=None, debug=False)
    if current.debug:
        current.output.err.print_exception(show_locals=False)
    current.output.error(message, _as_hint(hint))
    raise typer.Exit(1) from exc


def _as_hint(hint: str | None) -> str | None:
    """A hint in the CLI's style: the database writes one-sentence hints as
    sentences ("Pick another name."); the CLI's start lower-case, without a period."""
    if not hint or ". " in hint or not hint[:2].istitle():
        return hint
    if hint.endswith(".") and not hint.endswith(".."):
        hint = hint[:-1]
    return hint[0].lower() + hint[1:]


app = typer.Typer(
    name="gen",
    cls=_Edge,
    epilog=(
        "Start with `gen login --local NAME` (or `gen login` for a hosted project), "
        'then `gen create "a red fox in fresh snow"` and `gen list`.'
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Plain help: Typer's Rich help loads Markdown and traceback rendering up
    # front, which alone would put `gen --help` over its 150 ms budget.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from genvault import __version__

        typer.echo(f"gen (genvault) {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            help="Use the saved configuration and session NAME (default: $GENVAULT_PROFILE "
            "or 'default').",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """A private, durable history of the images you generate with AI models.

    Data lives in your Supabase project, or by default in a PostgreSQL that
    genvault starts itself, with images in local files and an offline model.
    """
    current = State(profile=profile, debug=debug)
    ctx.obj = current
    ctx.call_on_close(current.close)
    if not debug:
        # A missing XDG_RUNTIME_DIR is normal in containers and over ssh; the embedded
        # server's helper warns about it on every run.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


app.add_typer(_create.app)
app.add_typer(_listing.app)
app.add_typer(_show.app)
app.add_typer(_trash.app)
app.add_typer(_export.app)
_gallery = typer.Typer()
_gallery.command("ui")(_ui.ui)
app.add_typer(_gallery)
app.add_typer(_trash.trash_app, name="trash")
app.add_typer(_organise.app)
app.add_typer(_organise.collection_app, name="collection")
app.add_typer(_templates.template_app, name="template")
app.add_typer(_share.share_app, name="share")
app.add_typer(_share.app)
app.add_typer(_shared.shared_app, name="shared")
app.add_typer(_link.link_app, name="link")
app.add_typer(_account.app)
app.add_typer(_account.account_app, name="account")
app.add_typer(_doctor.app)
app.add_typer(_db.app, name="db")
app.add_typer(_admin.app, name="admin")


def main() -> None:
    """Run `gen` with the process's arguments (the console script's entry point)."""
    sys.exit(app())
