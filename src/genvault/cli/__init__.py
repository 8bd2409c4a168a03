"""The `gen` command line: genvault's history, account and operator commands.

``main`` is the console script's entry point; ``python -m genvault.cli`` runs it too.
"""

from genvault.cli._app import main

__all__ = ["main"]
