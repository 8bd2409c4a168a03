"""The gallery's collections: named groups of the user's images.

    GET    /collections                     list, create, rename, delete
    POST   /collections                     create (name=...)
    POST   /collections/{id}/rename         rename (name=...)
    POST   /collections/{id}/delete         delete (confirmed=yes); its images stay
    POST   /collections/{id}/add            put an image in it (generation_id=...)
    POST   /collections/{id}/remove         take an image out (generation_id=...)

A plain form that deletes a collection gets a confirm page first (the page's
script asks the user itself); the collection's images stay in the history.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import Collection, NotFound
from genvault.web._base import field, reply, wants_json
from genvault.web._link_routes import DEFAULT_EXPIRY, EXPIRIES
from genvault.web._routes import Routes

__all__ = ["CollectionRoutes"]


class CollectionRoutes(Routes):
    """The collections page, and making, renaming, deleting and filling collections."""

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/collections", self.collections_page, methods=get),
            Route("/collections", self.create_collection, methods=post),
            Route("/collections/{id}/rename", self.rename_collection, methods=post),
            Route("/collections/{id}/delete", self.delete_collection, methods=post),
            Route("/collections/{id}/add", self.add_to_collection, methods=post),
            Route("/collections/{id}/remove", self.remove_from_collection, methods=post),
        ]

    async def collections_page(self, request: Request) -> Response:
        def load() -> tuple[int, list[Collection]]:
            return self.client.credits.balance(), self.client.collections.list()

        credits, collections = await run_in_threadpool(load)
        context = {
            "tab": "collections",
            "credits": credits,
            "collections": collections,
            "expiries": EXPIRIES,
            "default_expiry": DEFAULT_EXPIRY,
        }
        return self.pages.render(request, "collections.html", context)

    async def create_collection(self, request: Request) -> Response:
        form = await request.form()
        name = field(form, "name")
        made = await run_in_threadpool(lambda: self.client.collections.create(name))
        return reply(request, form, made.to_dict(), back="/collections", status=201)

    async def rename_collection(self, request: Request) -> Response:
        collection_id = request.path_params["id"]
        form = await request.form()
        name = field(form, "name")
        renamed = await run_in_threadpool(
            lambda: self.client.collections.rename(collection_id, name)
        )
        return reply(request, form, renamed.to_dict(), back="/collections")

    async def delete_collection(self, request: Request) -> Response:
        collection_id = request.path_params["id"]
        form = await request.form()
        if field(form, "confirmed") != "yes" and not wants_json(request):
            return self.confirm(
                request,
                form,
                title="Delete this collection?",
                text="The collection goes; its images stay in your history.",
                button="Delete collection",
                back="/collections",
            )

        def run() -> None:
            repo = self.client.collections
            if not repo.delete(repo.resolve(collection_id).id):
                raise NotFound(f"no collection {collection_id}")

        await run_in_threadpool(run)
        return reply(request, form, {"id": collection_id, "deleted": True}, back="/collections")

    async def add_to_collection(self, request: Request) -> Response:
        return await self._collection_items(request, add=True)

    async def remove_from_collection(self, request: Request) -> Response:
        return await self._collection_items(request, add=False)

    async def _collection_items(self, request: Request, *, add: bool) -> Response:
        collection_id = request.path_params["id"]
        form = await request.form()
        generation_id = field(form, "generation_id")

        def run() -> tuple[Collection, int]:
            self.client.generations.get(generation_id)
            repo = self.client.collections
            found = repo.resolve(collection_id)
            if add:
                changed = repo.add(found.id, [generation_id])
            else:
                changed = repo.remove(found.id, [generation_id])
            return found, changed

        found, changed = await run_in_threadpool(run)
        payload = {
            "collection": {"id": found.id, "name": found.name},
            "generation_id": generation_id,
            "added" if add else "removed": changed,
        }
        return reply(request, form, payload, back=f"/history?collection={found.id}")
