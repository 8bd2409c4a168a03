"""The gallery's organising routes: stars, tags, the trash, collections, sharing, links.

Like the rest of the gallery, each route reads the request, calls the library
in a worker thread and renders; the database decides what the user may see
and change. State-changing routes answer the page's script with JSON and a
plain form with a redirect (see :func:`genvault.web._base.reply`).

    POST   /generations/{id}/star           star or unstar (starred=1|0)
    POST   /generations/{id}/tags           add tags (tags="a, b")
    POST   /generations/{id}/untag          remove one tag (tag=...)
    GET    /trash, /trash/cards             the trash, and its next pages as HTML
    POST   /trash/{id}/restore              back to the history
    POST   /trash/{id}/delete               delete for good (confirmed=yes)
    POST   /trash/empty                     delete everything in the trash (confirmed=yes)
    GET    /collections                     list, create, rename, delete
    POST   /collections                     create (name=...)
    POST   /collections/{id}/rename         rename (name=...)
    POST   /collections/{id}/delete         delete (confirmed=yes); its images stay
    POST   /collections/{id}/add            put an image in it (generation_id=...)
    POST   /collections/{id}/remove         take an image out (generation_id=...)
    GET    /shared, /shared/cards           what others shared with the user, read-only
    GET    /shared/images/{id}[/thumb]      one of those images
    GET    /links                           the user's public links
    POST   /links                           make one (generation_id or collection_id, expires)
    POST   /links/{id}/revoke               end one at once
    GET    /l/{token}                       what a link shows, to anyone holding it
    GET    /l/{token}/images/{id}[/thumb]   one of its images
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import (
    Client,
    Collection,
    Generation,
    GenerationsRepo,
    HistoryFilter,
    InvalidInput,
    NotFound,
    Page,
    PublicLink,
    SharedGeneration,
)
from genvault.web._base import (
    NO_STORE,
    PAGE_SIZE,
    Pages,
    field,
    image_response,
    local_path,
    reply,
    wants_json,
    when,
)

__all__ = ["DEFAULT_EXPIRY", "EXPIRIES", "Organiser"]

TRASH_DAYS = 30
# How long a new public link opens: the form's value, its label, its length.
EXPIRIES: dict[str, tuple[str, timedelta]] = {
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "365d": ("1 year", timedelta(days=365)),
}
DEFAULT_EXPIRY = "7d"


def _split_tags(text: str) -> list[str]:
    """Tags typed as "portrait, winter light", as the library stores them."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InvalidInput("no tag given", hint="type a tag, or several separated by commas")
    return GenerationsRepo.clean_tags(parts)


def _days_left(trashed_at: datetime | None) -> int:
    if trashed_at is None:
        return TRASH_DAYS
    gone = trashed_at + timedelta(days=TRASH_DAYS)
    return max(0, math.ceil((gone - datetime.now(UTC)).total_seconds() / 86400))


class Organiser:
    """The organising routes, bound to the app's Client and renderer."""

    def __init__(self, client: Client, pages: Pages) -> None:
        self.client = client
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        """Every route of this module, for :func:`genvault.web._app.build_app`."""
        get, post = ["GET"], ["POST"]
        return [
            Route("/generations/{id}/star", self.star, methods=post),
            Route("/generations/{id}/tags", self.tag, methods=post),
            Route("/generations/{id}/untag", self.untag, methods=post),
            Route("/trash", self.trash_page, methods=get),
            Route("/trash/cards", self.trash_cards, methods=get),
            Route("/trash/empty", self.empty_trash, methods=post),
            Route("/trash/{id}/restore", self.restore, methods=post),
            Route("/trash/{id}/delete", self.delete_for_good, methods=post),
            Route("/collections", self.collections_page, methods=get),
            Route("/collections", self.create_collection, methods=post),
            Route("/collections/{id}/rename", self.rename_collection, methods=post),
            Route("/collections/{id}/delete", self.delete_collection, methods=post),
            Route("/collections/{id}/add", self.add_to_collection, methods=post),
            Route("/collections/{id}/remove", self.remove_from_collection, methods=post),
            Route("/shared", self.shared_page, methods=get),
            Route("/shared/cards", self.shared_cards, methods=get),
            Route("/shared/images/{id}", self.shared_image, methods=get),
            Route("/shared/images/{id}/thumb", self.shared_thumbnail, methods=get),
            Route("/links", self.links_page, methods=get),
            Route("/links", self.create_link, methods=post),
            Route("/links/{id}/revoke", self.revoke_link, methods=post),
            Route("/l/{token}", self.link_page, methods=get),
            Route("/l/{token}/images/{id}", self.link_image, methods=get),
            Route("/l/{token}/images/{id}/thumb", self.link_thumbnail, methods=get),
        ]

    def _confirm(
        self, request: Request, form: FormData, *, title: str, text: str, button: str, back: str
    ) -> Response:
        """The page a plain form gets before something that cannot be undone."""
        context = {
            "tab": None,
            "title": title,
            "text": text,
            "button": button,
            "action": request.url.path,
            "back": local_path(field(form, "next"), back),
        }
        return self.pages.render(request, "confirm.html", context)

    # -- stars and tags ------------------------------------------------------
    async def star(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        starred = field(form, "starred", "1") not in ("0", "false", "")

        def run() -> None:
            if not self.client.generations.star([generation_id], starred=starred):
                raise NotFound(f"no generation {generation_id}")

        await run_in_threadpool(run)
        payload = {"id": generation_id, "starred": starred}
        return reply(request, form, payload, back="/history")

    async def tag(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        tags = _split_tags(field(form, "tags"))

        def run() -> int:
            repo = self.client.generations
            repo.get(generation_id)  # NotFound for an id that is not the user's
            return repo.tag([generation_id], tags)

        added = await run_in_threadpool(run)
        payload = {"id": generation_id, "tags": tags, "added": added}
        return reply(request, form, payload, back="/history")

    async def untag(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        typed = field(form, "tag")

        def run() -> tuple[int, str]:
            repo = self.client.generations
            repo.get(generation_id)
            [tag] = repo.clean_tags([typed])
            return repo.untag([generation_id], [tag]), tag

        removed, tag = await run_in_threadpool(run)
        payload = {"id": generation_id, "tag": tag, "removed": removed}
        return reply(request, form, payload, back="/history")

    # -- the trash -----------------------------------------------------------
    def _trash(self, before: str | None) -> Page[Generation]:
        where = HistoryFilter(trash=True)
        return self.client.generations.find(where, limit=PAGE_SIZE, before=before)

    def _trash_context(self, page: Page[Generation]) -> dict[str, Any]:
        left = {gen.id: _days_left(gen.trashed_at) for gen in page.items}
        return {"page": page, "days_left": left}

    async def trash_page(self, request: Request) -> Response:
        before = request.query_params.get("before") or None

        def load() -> tuple[int, Page[Generation]]:
            return self.client.credits.balance(), self._trash(before)

        credits, page = await run_in_threadpool(load)
        context = {
            "tab": "trash",
            "credits": credits,
            "trash_days": TRASH_DAYS,
            "older": f"/trash?before={page.next_cursor}" if page.next_cursor else None,
            "first_page": before is None,
            **self._trash_context(page),
        }
        return self.pages.render(request, "trash.html", context)

    async def trash_cards(self, request: Request) -> Response:
        before = request.query_params.get("before") or None
        page = await run_in_threadpool(self._trash, before)
        response = self.pages.render(request, "_trash_cards.html", self._trash_context(page))
        if page.next_cursor:
            response.headers["x-next-cursor"] = page.next_cursor
        return response

    async def restore(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()

        def run() -> None:
            if not self.client.generations.restore([generation_id]):
                raise NotFound(f"no image {generation_id} in your trash")

        await run_in_threadpool(run)
        return reply(request, form, {"id": generation_id, "restored": True}, back="/trash")

    async def delete_for_good(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        if field(form, "confirmed") != "yes" and not wants_json(request):
            return self._confirm(
                request,
                form,
                title="Delete this image for good?",
                text="It is removed from the trash and from storage. This cannot be undone.",
                button="Delete for good",
                back="/trash",
            )

        def run() -> None:
            repo = self.client.generations
            gen = repo.get(generation_id)
            if gen.trashed_at is None:
                raise InvalidInput(
                    "this image is not in the trash", hint="move it to the trash first"
                )
            if not repo.delete([generation_id])[0].deleted:
                raise NotFound(f"no image {generation_id} in your trash")

        await run_in_threadpool(run)
        return reply(request, form, {"id": generation_id, "deleted": True}, back="/trash")

    async def empty_trash(self, request: Request) -> Response:
        form = await request.form()
        if field(form, "confirmed") != "yes" and not wants_json(request):
            return self._confirm(
                request,
                form,
                title="Empty the trash?",
                text="Every image in the trash is deleted for good. This cannot be undone.",
                button="Empty trash",
                back="/trash",
            )
        removed = await run_in_threadpool(lambda: self.client.generations.empty_trash())
        return reply(request, form, {"deleted": removed}, back="/trash")

    # -- collections ---------------------------------------------------------
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
            return self._confirm(
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

    # -- shared with me ------------------------------------------------------
    def _shared(self, before: str | None) -> Page[SharedGeneration]:
        return self.client.sharing.generations(limit=PAGE_SIZE, before=before)

    async def shared_page(self, request: Request) -> Response:
        before = request.query_params.get("before") or None

        def load() -> tuple[int, Page[SharedGeneration]]:
            return self.client.credits.balance(), self._shared(before)

        credits, page = await run_in_threadpool(load)
        context = {
            "tab": "shared",
            "credits": credits,
            "page": page,
            "image_base": "/shared/images",
            "older": f"/shared?before={page.next_cursor}" if page.next_cursor else None,
            "first_page": before is None,
        }
        return self.pages.render(request, "shared.html", context)

    async def shared_cards(self, request: Request) -> Response:
        before = request.query_params.get("before") or None
        page = await run_in_threadpool(self._shared, before)
        context = {"page": page, "image_base": "/shared/images"}
        response = self.pages.render(request, "_shared_cards.html", context)
        if page.next_cursor:
            response.headers["x-next-cursor"] = page.next_cursor
        return response

    async def shared_image(self, request: Request) -> Response:
        return await self._shared_image(request, thumbnail=False)

    async def shared_thumbnail(self, request: Request) -> Response:
        return await self._shared_image(request, thumbnail=True)

    async def _shared_image(self, request: Request, *, thumbnail: bool) -> Response:
        generation_id = request.path_params["id"]

        def read() -> tuple[SharedGeneration, bytes]:
            repo = self.client.sharing
            item = repo.get(generation_id)
            return item, repo.read_image(item, thumbnail=thumbnail)

        item, data = await run_in_threadpool(read)
        return image_response(request, item.id, data, thumbnail=thumbnail, cache="no-store")

    # -- public links --------------------------------------------------------
    async def links_page(self, request: Request) -> Response:
        return await self._links_page(request, made=None)

    async def _links_page(self, request: Request, made: dict[str, Any] | None) -> Response:
        def load() -> tuple[int, list[PublicLink]]:
            return self.client.credits.balance(), self.client.sharing.links()

        credits, links = await run_in_threadpool(load)
        context = {"tab": "collections", "credits": credits, "links": links, "made": made}
        return self.pages.render(request, "links.html", context)

    async def create_link(self, request: Request) -> Response:
        form = await request.form()
        generation_id = field(form, "generation_id") or None
        collection_id = field(form, "collection_id") or None
        expiry = field(form, "expires", DEFAULT_EXPIRY)
        if expiry not in EXPIRIES:
            raise InvalidInput(
                f"unknown expiry {expiry[:20]!r}", hint="choose one of: " + ", ".join(EXPIRIES)
            )
        link = await run_in_threadpool(
            lambda: self.client.sharing.create_link(
                generation_id=generation_id,
                collection_id=collection_id,
                expires_in=EXPIRIES[expiry][1],
            )
        )
        made = {
            "id": link.id,
            "url": f"{str(request.base_url).rstrip('/')}/l/{link.token}",
            "expires_at": link.expires_at.isoformat(),
            "expires": when(link.expires_at),
        }
        if wants_json(request):
            return reply(request, form, made, back="/links", status=201)
        return await self._links_page(request, made)

    async def revoke_link(self, request: Request) -> Response:
        link_id = request.path_params["id"]
        form = await request.form()

        def run() -> None:
            if not self.client.sharing.revoke_link(link_id):
                raise NotFound(f"no open link {link_id}", hint="it may have been revoked already")

        await run_in_threadpool(run)
        return reply(request, form, {"id": link_id, "revoked": True}, back="/links")

    def _open(self, token: str) -> list[SharedGeneration] | None:
        """What the link shows, or None when it does not open (any reason alike)."""
        try:
            return self.client.open_link(token)
        except (NotFound, InvalidInput):
            return None

    async def link_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        items = await run_in_threadpool(self._open, token)
        if not items:
            return self.pages.render(request, "link_gone.html", {}, status=404, visitor=True)
        context = {"items": items, "first": items[0], "image_base": f"/l/{token}/images"}
        return self.pages.render(request, "link.html", context, visitor=True)

    async def link_image(self, request: Request) -> Response:
        return await self._link_image(request, thumbnail=False)

    async def link_thumbnail(self, request: Request) -> Response:
        return await self._link_image(request, thumbnail=True)

    async def _link_image(self, request: Request, *, thumbnail: bool) -> Response:
        token, image_id = request.path_params["token"], request.path_params["id"]

        def read() -> bytes | None:
            items = self._open(token) or []
            item = next((i for i in items if i.id == image_id), None)
            if item is None:
                return None
            return self.client.read_link_image(item, thumbnail=thumbnail)

        data = await run_in_threadpool(read)
        if data is None:
            return Response("this link no longer opens", status_code=404, headers=NO_STORE)
        return image_response(request, image_id, data, thumbnail=thumbnail, cache="no-store")
