"""The gallery's routes: Generate, History, the images, and the calls the pages' scripts make.

Pages are rendered on the server and work without JavaScript; the scripts in
``static/`` only make them quicker (filtering as you type, endless scrolling, a
lightbox, generating without a reload). Each route is thin: it reads the
request, calls the library in a worker thread (the library is synchronous) and
renders. Who the user is, and what they may see, is the Client's and the
database's business; nothing here filters rows.

    GET    /                          Generate: prompt, credits, the last result
    GET    /history                   History: filters in the query (see _filters), ?before=
    GET    /history/cards             the same cards as an HTML fragment (X-Next-Cursor)
    POST   /generate                  make an image; streams progress as NDJSON if asked
    DELETE /generations/{id}          move one image to the trash (JSON)
    POST   /generations/{id}/delete   the same from a plain form, after a confirm page
    GET    /images/{id}               the full image (?download=1 to save it)
    GET    /images/{id}/thumb         its thumbnail

Stars and tags, the trash, collections, what others shared and public links
have a module each: :mod:`~genvault.web._tag_routes`,
:mod:`~genvault.web._trash_routes`, :mod:`~genvault.web._collection_routes`,
:mod:`~genvault.web._shared_routes` and :mod:`~genvault.web._link_routes`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from genvault import (
    ASPECT_RATIOS,
    MAX_PROMPT,
    Client,
    Collection,
    Generation,
    GenvaultError,
    InvalidInput,
    NotFound,
    Page,
    TagCount,
)
from genvault.web._base import (
    HERE,
    NO_STORE,
    PAGE_SIZE,
    Pages,
    balance_or_none,
    describe,
    field,
    image_response,
    local_path,
    when,
)
from genvault.web._collection_routes import CollectionRoutes
from genvault.web._filters import SORT_LABELS, Filters
from genvault.web._guard import Guard
from genvault.web._link_routes import DEFAULT_EXPIRY, EXPIRIES, LinkRoutes
from genvault.web._routes import Routes
from genvault.web._shared_routes import SharedRoutes
from genvault.web._tag_routes import TagRoutes
from genvault.web._text import Utf8Only
from genvault.web._trash_routes import TrashRoutes

__all__ = ["build_app"]

log = logging.getLogger("genvault.web")


def _card(gen: Generation) -> dict[str, Any]:
    """What the page's script needs to show a new image."""
    return {
        "id": gen.id,
        "prompt": gen.prompt,
        "model": gen.model,
        "created_at": gen.created_at.isoformat(),
        "when": when(gen.created_at),
        "image": f"/images/{gen.id}",
        "thumb": f"/images/{gen.id}/thumb",
        "download": f"/images/{gen.id}?download=1",
    }


@dataclass(frozen=True)
class _History:
    """Everything the History page shows besides the header."""

    credits: int
    page: Page[Generation]
    tags: list[TagCount]
    collections: list[Collection]


class _Gallery(Routes):
    """Generate, History and the images."""

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/", self.generate_page, methods=get),
            Route("/history", self.history_page, methods=get),
            Route("/history/cards", self.history_cards, methods=get),
            Route("/generate", self.generate, methods=post),
            Route("/generations/{id}", self.delete, methods=["DELETE"]),
            Route("/generations/{id}/delete", self.delete_form, methods=post),
            Route("/images/{id}", self.image, methods=get),
            Route("/images/{id}/thumb", self.thumbnail, methods=get),
        ]

    # -- pages ---------------------------------------------------------------
    async def generate_page(self, request: Request) -> Response:
        made_id = request.query_params.get("made")

        def load() -> tuple[int, Generation | None]:
            made = None
            if made_id:
                try:
                    made = self.client.generations.get(made_id)
                except (NotFound, InvalidInput):
                    made = None
            return self.client.credits.balance(), made

        credits, made = await run_in_threadpool(load)
        context = self._generate_context(credits, made=made)
        return self.pages.render(request, "generate.html", context)

    def _generate_context(self, credits: int | None, **extra: Any) -> dict[str, Any]:
        return {
            "tab": "generate",
            "credits": credits,
            "max_prompt": MAX_PROMPT,
            "aspect_ratios": ASPECT_RATIOS,
            "model": self.client.settings.default_model,
            "prompt": "",
            "aspect_ratio": "1:1",
            "made": None,
            "error": None,
            **extra,
        }

    def _find(self, filters: Filters, before: str | None) -> Page[Generation]:
        return self.client.generations.find(filters.where(), limit=PAGE_SIZE, before=before)

    async def history_page(self, request: Request) -> Response:
        filters = Filters.from_query(request.query_params)
        before = request.query_params.get("before") or None

        def load() -> _History:
            repo = self.client.generations
            return _History(
                credits=self.client.credits.balance(),
                page=self._find(filters, before),
                tags=repo.tags(),
                collections=self.client.collections.list(),
            )

        found = await run_in_threadpool(load)
        collection = next((c for c in found.collections if c.id == filters.collection), None)
        models = sorted(
            {self.client.settings.default_model, filters.model}
            | {gen.model for gen in found.page.items} - {""}
        )
        context = {
            "tab": "history",
            "credits": found.credits,
            "filters": filters,
            "page": found.page,
            "tags": found.tags,
            "collections": found.collections,
            "collection": collection,
            "models": models,
            "sorts": SORT_LABELS,
            "expiries": EXPIRIES,
            "default_expiry": DEFAULT_EXPIRY,
            "here": filters.url(),
            "older": self._older_link(filters, found.page),
            "first_page": before is None,
        }
        return self.pages.render(request, "history.html", context)

    async def history_cards(self, request: Request) -> Response:
        filters = Filters.from_query(request.query_params)
        before = request.query_params.get("before") or None
        page = await run_in_threadpool(self._find, filters, before)
        context = {"page": page, "here": filters.url()}
        response = self.pages.render(request, "_cards.html", context)
        if page.next_cursor:
            response.headers["x-next-cursor"] = page.next_cursor
        return response

    @staticmethod
    def _older_link(filters: Filters, page: Page[Generation]) -> str | None:
        if page.next_cursor is None:
            return None
        return filters.url(before=page.next_cursor)

    # -- generating ----------------------------------------------------------
    async def generate(self, request: Request) -> Response:
        form = await request.form()
        prompt = field(form, "prompt")
        aspect_ratio = field(form, "aspect_ratio", "1:1")
        if "application/x-ndjson" in request.headers.get("accept", ""):
            return await self._generate_streaming(prompt, aspect_ratio)
        try:
            gen = await run_in_threadpool(self.client.create, prompt, aspect_ratio=aspect_ratio)
        except GenvaultError as exc:
            status, title, message, hint = describe(exc)
            credits = await run_in_threadpool(balance_or_none, self.client)
            error = {"title": title, "message": message, "hint": hint}
            context = self._generate_context(
                credits, prompt=prompt, aspect_ratio=aspect_ratio, error=error
            )
            return self.pages.render(request, "generate.html", context, status)
        return RedirectResponse(f"/?made={gen.id}", status_code=303)

    async def _generate_streaming(self, prompt: str, aspect_ratio: str) -> Response:
        """Run the generation in a thread and stream its phases, one JSON per line.

        Errors before the model starts (no credits, a bad prompt) arrive before
        anything is sent, so they still get their own status code (402, 400);
        a later failure becomes the stream's last line.
        """
        events: queue.SimpleQueue[dict[str, Any] | BaseException] = queue.SimpleQueue()

        def status(phase: str, detail: str) -> None:
            events.put({"type": "status", "phase": phase, "detail": detail})

        def work() -> None:
            try:
                gen = self.client.create(prompt, aspect_ratio=aspect_ratio, on_status=status)
                events.put({"type": "done", **_card(gen), "credits": balance_or_none(self.client)})
            except BaseException as exc:
                events.put(exc)

        threading.Thread(target=work, name="genvault-web-generate", daemon=True).start()
        first = await run_in_threadpool(events.get)
        if isinstance(first, BaseException):
            raise first

        async def lines() -> AsyncIterator[str]:
            event: dict[str, Any] | BaseException = first
            while True:
                if isinstance(event, GenvaultError):
                    _, title, message, hint = describe(event)
                    event = {"type": "error", "title": title, "error": message, "hint": hint}
                elif isinstance(event, BaseException):
                    log.error("generation failed", exc_info=event)
                    event = {"type": "error", "title": "Something went wrong", "error": str(event)}
                yield json.dumps(event) + "\n"
                if event["type"] != "status":
                    return
                event = await run_in_threadpool(events.get)

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=NO_STORE)

    # -- moving to the trash -------------------------------------------------
    def _trash(self, generation_id: str) -> None:
        if not self.client.generations.trash([generation_id]):
            raise NotFound(f"no generation {generation_id} in your history")

    async def delete(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        await run_in_threadpool(self._trash, generation_id)
        return JSONResponse({"id": generation_id, "trashed": True}, headers=NO_STORE)

    async def delete_form(self, request: Request) -> Response:
        """Without JavaScript: the first POST shows a confirm page, the second trashes."""
        generation_id = request.path_params["id"]
        form = await request.form()
        back = local_path(field(form, "next"), "/history")
        if field(form, "confirmed") == "yes":
            await run_in_threadpool(self._trash, generation_id)
            return RedirectResponse(back, status_code=303)
        gen = await run_in_threadpool(lambda: self.client.generations.get(generation_id))
        context = {"tab": "history", "gen": gen, "back": back}
        return self.pages.render(request, "confirm_delete.html", context)

    # -- images --------------------------------------------------------------
    async def image(self, request: Request) -> Response:
        return await self._image(request, thumbnail=False)

    async def thumbnail(self, request: Request) -> Response:
        return await self._image(request, thumbnail=True)

    async def _image(self, request: Request, *, thumbnail: bool) -> Response:
        generation_id = request.path_params["id"]

        def read() -> tuple[Generation, bytes]:
            repo = self.client.generations
            gen = repo.get(generation_id)
            return gen, repo.read_image(gen, thumbnail=thumbnail)

        gen, data = await run_in_threadpool(read)
        return image_response(request, gen.id, data, thumbnail=thumbnail)


def build_app(client: Client, token: str) -> Starlette:
    """The gallery for ``client``'s signed-in user, guarded by ``token``."""
    pages = Pages(token)
    groups = (_Gallery, TagRoutes, TrashRoutes, CollectionRoutes, SharedRoutes, LinkRoutes)
    routes = [route for group in groups for route in group(client, pages).routes()]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token), Middleware(Utf8Only, on_error=pages.on_error)],
        exception_handlers={GenvaultError: pages.on_error, HTTPException: pages.on_error},
    )
