"""The gallery's routes: two pages, the images, and the few calls the page's script makes.

Pages are rendered on the server and work without JavaScript; the scripts in
``static/`` only make them quicker (search as you type, endless scrolling, a
lightbox, generating without a reload). Each route is thin: it reads the
request, calls the library in a worker thread (the library is synchronous) and
renders. Who the user is, and what they may see, is the Client's and the
database's business; nothing here filters rows.

    GET    /                          Generate: prompt, credits, the last result
    GET    /history                   History: ?q= search, ?before= next page
    GET    /history/cards             the same cards as an HTML fragment (X-Next-Cursor)
    POST   /generate                  make an image; streams progress as NDJSON if asked
    DELETE /generations/{id}          delete one image (JSON)
    POST   /generations/{id}/delete   the same from a plain form, after a confirm page
    GET    /images/{id}               the full image (?download=1 to save it)
    GET    /images/{id}/thumb         its thumbnail
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from genvault._client import Client
from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    Conflict,
    GenvaultError,
    InsufficientCredits,
    InvalidInput,
    ModelFailed,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    StorageFailed,
)
from genvault._imagegen import ASPECT_RATIOS
from genvault._models import Generation, Page
from genvault._repos import CreditsRepo, GenerationsRepo
from genvault._validate import MAX_PROMPT
from genvault.web._guard import CSRF_FIELD, Guard, csrf_cookie_name

__all__ = ["build_app"]

HERE = Path(__file__).parent
PAGE_SIZE = 30
NO_STORE = {"cache-control": "no-store"}
log = logging.getLogger("genvault.web")

# What each error becomes: HTTP status, a heading, and the hint the page shows
# (None keeps the library's own hint).
_ERRORS: dict[type[GenvaultError], tuple[int, str, str | None]] = {
    NotSignedIn: (401, "Nobody is signed in", "sign in first with `gen login`, then reload"),
    PermissionDenied: (403, "Not allowed", None),
    NotFound: (404, "Not found", "it may have been deleted"),
    InsufficientCredits: (402, "No credits left", None),
    InvalidInput: (400, "Please check your input", None),
    Conflict: (409, "That clashed with another change", "try again"),
    ModelFailed: (502, "The image model failed", None),
    StorageFailed: (502, "The image could not be stored or read", None),
    BackendUnreachable: (503, "Can't reach the database", None),
    ConfigError: (500, "genvault is not configured right", None),
}


def _describe(exc: GenvaultError) -> tuple[int, str, str, str | None]:
    """(status, heading, message, hint) for an error of the library."""
    for cls in type(exc).__mro__:
        if cls in _ERRORS:
            status, title, hint = _ERRORS[cls]
            break
    else:
        status, title, hint = 500, "Something went wrong", None
    message = "You have no credits left." if isinstance(exc, InsufficientCredits) else exc.message
    return status, title, message, hint or exc.hint


def _when(value: datetime) -> str:
    """A creation time in this machine's time zone, e.g. "3 Mar 2025, 14:05"."""
    local = value.astimezone()
    return f"{local.day} {local:%b %Y, %H:%M}"


def _card(gen: Generation) -> dict[str, Any]:
    """What the page's script needs to show a new image."""
    return {
        "id": gen.id,
        "prompt": gen.prompt,
        "model": gen.model,
        "created_at": gen.created_at.isoformat(),
        "when": _when(gen.created_at),
        "image": f"/images/{gen.id}",
        "thumb": f"/images/{gen.id}/thumb",
        "download": f"/images/{gen.id}?download=1",
    }


def _field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


class _Vault:
    """The app's one Client, shared by the server's worker threads.

    The Client builds its connection pool and token verifier on first use;
    that first use happens once, under a lock, before threads share them.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._warm = False

    def _ready(self) -> None:
        if not self._warm:
            with self._lock:
                if not self._warm:
                    _ = self.client.credits
                    self._warm = True

    def generations(self) -> GenerationsRepo:
        self._ready()
        return self.client.generations

    def credits(self) -> CreditsRepo:
        self._ready()
        return self.client.credits

    def page(self, q: str, before: str | None) -> Page:
        repo = self.generations()
        if q:
            return repo.search(q, limit=PAGE_SIZE, before=before)
        return repo.list(limit=PAGE_SIZE, before=before)

    def create(
        self, prompt: str, aspect_ratio: str, on_status: Callable[[str, str], None] | None = None
    ) -> Generation:
        self._ready()
        return self.client.create(prompt, aspect_ratio=aspect_ratio, on_status=on_status)


class _Gallery:
    """The routes, bound to one Client and one CSRF token."""

    def __init__(self, client: Client, token: str) -> None:
        self.vault = _Vault(client)
        self.token = token
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["when"] = _when

    # -- rendering -----------------------------------------------------------
    def _page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """A page (or fragment) with the CSRF token in it and in its cookie."""
        response = self.templates.TemplateResponse(
            request,
            name,
            {"csrf_field": CSRF_FIELD, "csrf_token": self.token, **context},
            status_code=status,
            headers=NO_STORE,
        )
        response.set_cookie(
            csrf_cookie_name(request.scope), self.token, httponly=True, samesite="strict"
        )
        return response

    async def on_error(self, request: Request, exc: Exception) -> Response:
        """Library errors and HTTP errors as a page (for a browser) or as JSON."""
        if isinstance(exc, GenvaultError):
            status, title, message, hint = _describe(exc)
        elif isinstance(exc, HTTPException):
            status, message, hint = exc.status_code, str(exc.detail), None
            title = HTTPStatus(status).phrase
        else:
            raise exc
        if "text/html" in request.headers.get("accept", ""):
            banner = {"title": title, "message": message, "hint": hint}
            retry = request.url.path if request.method == "GET" else "/"
            if request.method == "GET" and request.url.query:
                retry += "?" + request.url.query
            context = {"tab": None, "banner": banner, "retry": retry}
            return self._page(request, "error.html", context, status)
        return JSONResponse(
            {"title": title, "error": message, "hint": hint}, status_code=status, headers=NO_STORE
        )

    # -- pages ---------------------------------------------------------------
    async def generate_page(self, request: Request) -> Response:
        made_id = request.query_params.get("made")

        def load() -> tuple[int, Generation | None]:
            made = None
            if made_id:
                try:
                    made = self.vault.generations().get(made_id)
                except (NotFound, InvalidInput):
                    made = None
            return self.vault.credits().balance(), made

        credits, made = await run_in_threadpool(load)
        return self._page(request, "generate.html", self._generate_context(credits, made=made))

    def _generate_context(self, credits: int | None, **extra: Any) -> dict[str, Any]:
        return {
            "tab": "generate",
            "credits": credits,
            "max_prompt": MAX_PROMPT,
            "aspect_ratios": ASPECT_RATIOS,
            "model": self.vault.client.settings.default_model,
            "prompt": "",
            "aspect_ratio": "1:1",
            "made": None,
            "error": None,
            **extra,
        }

    async def history_page(self, request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        before = request.query_params.get("before") or None

        def load() -> tuple[int, Page]:
            return self.vault.credits().balance(), self.vault.page(q, before)

        credits, page = await run_in_threadpool(load)
        context = {
            "tab": "history",
            "credits": credits,
            "q": q,
            "page": page,
            "older": self._older_link(q, page),
            "first_page": before is None,
        }
        return self._page(request, "history.html", context)

    async def history_cards(self, request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        before = request.query_params.get("before") or None
        page = await run_in_threadpool(self.vault.page, q, before)
        response = self._page(request, "_cards.html", {"page": page})
        if page.next_cursor:
            response.headers["x-next-cursor"] = page.next_cursor
        return response

    @staticmethod
    def _older_link(q: str, page: Page) -> str | None:
        if page.next_cursor is None:
            return None
        params = {"q": q, "before": page.next_cursor} if q else {"before": page.next_cursor}
        return f"/history?{urlencode(params)}"

    # -- generating ----------------------------------------------------------
    async def generate(self, request: Request) -> Response:
        form = await request.form()
        prompt = _field(form, "prompt")
        aspect_ratio = _field(form, "aspect_ratio", "1:1")
        if "application/x-ndjson" in request.headers.get("accept", ""):
            return await self._generate_streaming(prompt, aspect_ratio)
        try:
            gen = await run_in_threadpool(self.vault.create, prompt, aspect_ratio)
        except GenvaultError as exc:
            status, title, message, hint = _describe(exc)
            credits = await run_in_threadpool(self._balance_or_none)
            error = {"title": title, "message": message, "hint": hint}
            context = self._generate_context(
                credits, prompt=prompt, aspect_ratio=aspect_ratio, error=error
            )
            return self._page(request, "generate.html", context, status)
        return RedirectResponse(f"/?made={gen.id}", status_code=303)

    def _balance_or_none(self) -> int | None:
        try:
            return self.vault.credits().balance()
        except GenvaultError:
            return None

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
                gen = self.vault.create(prompt, aspect_ratio, status)
                events.put({"type": "done", **_card(gen), "credits": self._balance_or_none()})
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
                    _, title, message, hint = _describe(event)
                    event = {"type": "error", "title": title, "error": message, "hint": hint}
                elif isinstance(event, BaseException):
                    log.error("generation failed", exc_info=event)
                    event = {"type": "error", "title": "Something went wrong", "error": str(event)}
                yield json.dumps(event) + "\n"
                if event["type"] != "status":
                    return
                event = await run_in_threadpool(events.get)

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=NO_STORE)

    # -- deleting ------------------------------------------------------------
    def _delete(self, generation_id: str) -> None:
        outcome = self.vault.generations().delete([generation_id])[0]
        if not outcome.deleted:
            raise NotFound(f"no generation {outcome.id}")

    async def delete(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        await run_in_threadpool(self._delete, generation_id)
        return JSONResponse({"id": generation_id, "deleted": True}, headers=NO_STORE)

    async def delete_form(self, request: Request) -> Response:
        """Without JavaScript: the first POST shows a confirm page, the second deletes."""
        generation_id = request.path_params["id"]
        form = await request.form()
        if _field(form, "confirmed") == "yes":
            await run_in_threadpool(self._delete, generation_id)
            return RedirectResponse("/history", status_code=303)
        gen = await run_in_threadpool(lambda: self.vault.generations().get(generation_id))
        return self._page(request, "confirm_delete.html", {"tab": "history", "gen": gen})

    # -- images --------------------------------------------------------------
    async def image(self, request: Request) -> Response:
        return await self._image(request, thumbnail=False)

    async def thumbnail(self, request: Request) -> Response:
        return await self._image(request, thumbnail=True)

    async def _image(self, request: Request, *, thumbnail: bool) -> Response:
        generation_id = request.path_params["id"]

        def read() -> tuple[Generation, bytes]:
            repo = self.vault.generations()
            gen = repo.get(generation_id)
            return gen, repo.read_image(gen, thumbnail=thumbnail)

        gen, data = await run_in_threadpool(read)
        disposition = "attachment" if request.query_params.get("download") else "inline"
        name = f"genvault-{gen.id}{'.thumb' if thumbnail else ''}.webp"
        headers = {
            "content-disposition": f'{disposition}; filename="{name}"',
            "cache-control": "private, max-age=3600",
        }
        return Response(data, media_type="image/webp", headers=headers)


def build_app(client: Client, token: str) -> Starlette:
    """The gallery for ``client``'s signed-in user, guarded by ``token``."""
    gallery = _Gallery(client, token)
    routes = [
        Route("/", gallery.generate_page, methods=["GET"]),
        Route("/history", gallery.history_page, methods=["GET"]),
        Route("/history/cards", gallery.history_cards, methods=["GET"]),
        Route("/generate", gallery.generate, methods=["POST"]),
        Route("/generations/{id}", gallery.delete, methods=["DELETE"]),
        Route("/generations/{id}/delete", gallery.delete_form, methods=["POST"]),
        Route("/images/{id}", gallery.image, methods=["GET"]),
        Route("/images/{id}/thumb", gallery.thumbnail, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token)],
        exception_handlers={GenvaultError: gallery.on_error, HTTPException: gallery.on_error},
    )
