"""Public links: the user's own, and what one shows to anyone holding it.

    GET    /links                           the user's public links
    POST   /links                           make one (generation_id or collection_id, expires)
    POST   /links/{id}/revoke               end one at once
    GET    /l/{token}                       what a link shows, to anyone holding it
    GET    /l/{token}/images/{id}[/thumb]   one of its images

The pages under ``/l/`` are a visitor's: read-only, without the CSRF token or
the user's navigation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import InvalidInput, NotFound, PublicLink, SharedGeneration
from genvault.web._base import NO_STORE, field, image_response, reply, wants_json, when
from genvault.web._routes import Routes

__all__ = ["DEFAULT_EXPIRY", "EXPIRIES", "LinkRoutes"]

# How long a new public link opens: the form's value, its label, its length.
EXPIRIES: dict[str, tuple[str, timedelta]] = {
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "365d": ("1 year", timedelta(days=365)),
}
DEFAULT_EXPIRY = "7d"


class LinkRoutes(Routes):
    """The Links page, making and revoking links, and a link's own page."""

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/links", self.links_page, methods=get),
            Route("/links", self.create_link, methods=post),
            Route("/links/{id}/revoke", self.revoke_link, methods=post),
            Route("/l/{token}", self.link_page, methods=get),
            Route("/l/{token}/images/{id}", self.link_image, methods=get),
            Route("/l/{token}/images/{id}/thumb", self.link_thumbnail, methods=get),
        ]

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
