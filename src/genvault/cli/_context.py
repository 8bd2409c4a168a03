"""What every command shares: the chosen profile, its settings, one Client, the consoles.

The root callback puts a :class:`State` on the Typer context; commands take it
with :func:`state`. Settings are read, and the Client is built, on first use
inside a command, so that ``gen --help`` imports nothing heavy and a malformed
setting is reported by the CLI's error edge like any other error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, urlsplit

import typer
from rich.text import Text
from typer.core import TyperGroup

from genvault.cli._render import Output

if TYPE_CHECKING:
    from genvault import Client, Settings

__all__ = [
    "JsonOpt",
    "State",
    "ask",
    "backend_description",
    "confirm",
    "default_command_group",
    "state",
]

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON to stdout, and nothing else.")
]


class State:
    """Per-run state: global options, and the Settings and Client built from them."""

    def __init__(self, *, profile: str | None, debug: bool) -> None:
        self.profile = profile
        self.debug = debug
        self._output: Output | None = None
        self._settings: Settings | None = None
        self._client: Client | None = None

    @property
    def output(self) -> Output:
        if self._output is None:
            self._output = Output()
        return self._output

    def settings(self) -> Settings:
        """Settings from the environment, `.env` and the profile's settings.env."""
        if self._settings is None:
            from genvault import Settings

            self._settings = Settings.from_env(profile=self.profile)
        return self._settings

    def client(self) -> Client:
        """The Client for this run (the root callback closes it when the run ends)."""
        if self._client is None:
            from genvault import Client

            settings = self.settings()
            self._client = Client(settings)
        return self._client

    def ready_client(self) -> Client:
        """The Client, with the embedded server started (behind a spinner) if it is used."""
        client = self.client()
        if client.settings.embedded:
            with self.output.status("connecting to the embedded PostgreSQL…"):
                client.database_url()
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def state(ctx: typer.Context) -> State:
    """The State the root callback stored on the context."""
    found = ctx.find_object(State)
    if found is None:  # a command run on its own, without the root app
        found = State(profile=None, debug=False)
        ctx.obj = found
    return found


def backend_description(settings: Settings) -> str:
    """Where the data of these settings lives, without any password."""
    if settings.hosted:
        return f"Supabase project {settings.supabase_url}"
    if settings.database_url is None:
        return f"embedded PostgreSQL in {settings.home / 'postgres'}"
    parts = urlsplit(settings.database_url)
    host = parts.hostname or ""
    if not host:
        host = parse_qs(parts.query).get("host", ["local socket"])[0]
    port = f":{parts.port}" if parts.port else ""
    name = parts.path.lstrip("/") or "postgres"
    return f"PostgreSQL database {name} on {host}{port}"


def ask(output: Output, question: str) -> str | None:
    """Ask on stderr and read one line of stdin; None at end of input.

    Typer's prompt writes part of the prompt to stdout; here stdout stays data.
    """
    output.err.print(Text(question), end=" ")
    output.err.file.flush()
    line = sys.stdin.readline()
    if not sys.stdin.isatty():
        output.err.print()  # the answer was not echoed: end the prompt's line
    return line.strip() if line else None


def confirm(output: Output, question: str) -> bool:
    """A yes/no question; anything but y or yes (no answer at all too) is no."""
    answer = ask(output, f"{question} [y/N]:")
    return answer is not None and answer.lower() in ("y", "yes")


class _DefaultCommandGroup(TyperGroup):
    """A command group that runs one of its commands when no command is named.

    ``gen trash`` runs ``gen trash list`` and ``gen share ID EMAIL`` runs
    ``gen share add ID EMAIL``; a group's help (``gen trash --help``) stays the
    group's own.
    """

    default_command = ""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not ctx.resilient_parsing:  # completion lists the commands
            if args:
                first = args[0]
                if first not in self.commands and first not in ctx.help_option_names:
                    args = [self.default_command, *args]
            elif not self.no_args_is_help:
                args = [self.default_command]
        return super().parse_args(ctx, args)


def default_command_group(command: str) -> type[TyperGroup]:
    """A group class (for ``typer.Typer(cls=...)``) whose default command is ``command``."""
    return type(
        f"DefaultCommandGroup_{command}", (_DefaultCommandGroup,), {"default_command": command}
    )
