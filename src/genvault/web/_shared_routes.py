"""What others shared with the user, read-only.

    GET    /shared, /shared/cards           the images, and their next pages as HTML
    GET    /shared/images/{id}[/thumb]      one of those images

The browser keeps no copy of a shared image (no-store): a share can end at
any time.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import Page, SharedGeneration
from genvault.web._base import PAGE_SIZE, image_response
from genvault.web._routes import Routes

__all__ = ["SharedRoutes"]


class SharedRoutes(Routes):
    """The Shared with me page and its images."""

    def routes(self) -> list[BaseRoute]:
        get = ["GET"]
        return [
            Route("/shared", self.shared_page, methods=get),
            Route("/shared/cards", self.shared_cards, methods=get),
            Route("/shared/images/{id}", self.shared_image, methods=get),
            Route("/shared/images/{id}/thumb", self.shared_thumbnail, methods=get),
        ]

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
