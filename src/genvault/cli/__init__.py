"""The `gen` command line: genvault's history, account and operator commands.

``main`` is the console script's entry point; ``python -m genvault.cli`` runs it too.

The modules that define commands do not use ``from __future__ import
annotations``: Typer reads every command's annotations on every start, and
annotations kept as strings are compiled again each time (about a tenth of
`gen --help`'s time). Types that are imported only for type checking are
written in quotes there instead.
"""

from genvault.cli._app import main

__all__ = ["main"]
