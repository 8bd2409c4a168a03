"""The signed-in user's collections: named groups of their generations.

Like the history, each method is one call of a SQL function (see
database/organising.sql): Postgres decides what the user may see and change,
this class shapes arguments and results. A collection is named by its id or by
its name, in any case.
"""

from __future__ import annotations

from collections.abc import Iterable

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound
from genvault._records import Collection
from genvault._transport import Transport

__all__ = ["CollectionsRepo"]


class CollectionsRepo:
    """Named groups of the user's generations."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self) -> list[Collection]:
        """The user's collections by name, with how many images each holds."""
        return [Collection.from_row(r) for r in self._transport.rpc("my_collections", {})]

    def create(self, name: str) -> Collection:
        """A new, empty collection; Conflict if the user has one of that name."""
        rows = self._transport.rpc("create_collection", {"name": _name(name)})
        return Collection.from_row({**rows[0], "images": 0})

    def rename(self, collection: str, name: str) -> Collection:
        """Give a collection (by id or name) a new name."""
        current = self.resolve(collection)
        rows = self._transport.rpc(
            "rename_collection", {"collection_id": current.id, "name": _name(name)}
        )
        return Collection.from_row({**rows[0], "images": current.images})

    def delete(self, collection: str) -> bool:
        """Delete a collection (by id or name); its images stay in the history."""
        cid = self.resolve(collection).id
        return bool(self._transport.rpc("delete_collection", {"collection_id": cid}, scalar=True))

    def add(self, collection: str, generation_ids: Iterable[str]) -> int:
        """Put generations in a collection; returns how many were not in it yet."""
        return self._move("add_to_collection", collection, generation_ids)

    def remove(self, collection: str, generation_ids: Iterable[str]) -> int:
        """Take generations out of a collection; returns how many were in it."""
        return self._move("remove_from_collection", collection, generation_ids)

    def _move(self, fn: str, collection: str, generation_ids: Iterable[str]) -> int:
        cid = self.resolve(collection).id
        ids = [_validate.generation_id(g) for g in generation_ids]
        args = {"collection_id": cid, "generation_ids": ids}
        return int(self._transport.rpc(fn, args, scalar=True) or 0)

    def resolve(self, collection: str) -> Collection:
        """The user's collection with this id or name (any case); NotFound otherwise."""
        wanted = _validate.text(str(collection), "collection name").strip()
        if not wanted:
            raise InvalidInput("no collection given", hint="give a collection's name or id")
        found = self.list()
        for item in found:
            if item.id == wanted.lower() or item.name.lower() == wanted.lower():
                return item
        raise NotFound(
            f"no collection {wanted!r}", hint="list your collections with `gen collection list`"
        )


def _name(name: str) -> str:
    clean = _validate.text(str(name), "collection name").strip()
    if not clean:
        raise InvalidInput("a collection needs a name", hint="give a name, e.g. Favourites")
    if len(clean) > 100:
        raise InvalidInput("the collection name is too long", hint="use at most 100 characters")
    return clean
