"""Many ids at once: the generations a list of typed ids names, for commands that
take several (``gen delete ID...``, ``gen tag ID...``).

Each id is resolved by the library (:meth:`genvault.GenerationsRepo.resolve`):
a full id or the first 8 or more characters of one, as tables show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from genvault import NotFound

if TYPE_CHECKING:
    from genvault import Generation, GenerationsRepo, Scope

__all__ = ["find_generations", "sort_out_generations"]


def find_generations(
    repo: GenerationsRepo, values: Sequence[str], *, scope: Scope = "history"
) -> list[Generation]:
    """Every value's generation, without repeats; the first one that fails raises."""
    found: list[Generation] = []
    for value in values:
        gen = repo.resolve(value, scope=scope)
        if all(g.id != gen.id for g in found):
            found.append(gen)
    return found


def sort_out_generations(
    repo: GenerationsRepo, values: Sequence[str], *, scope: Scope = "any"
) -> tuple[list[Generation], list[str]]:
    """The generations found for ``values`` (without repeats), and the values that
    matched none: for commands that report on each id instead of stopping."""
    found: list[Generation] = []
    missing: list[str] = []
    for value in values:
        try:
            gen = repo.resolve(value, scope=scope)
        except NotFound:
            missing.append(value)
            continue
        if all(g.id != gen.id for g in found):
            found.append(gen)
    return found, missing
