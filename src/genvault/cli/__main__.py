"""`python -m genvault.cli`: the same as the `gen` command."""

from genvault.cli import main

main()
