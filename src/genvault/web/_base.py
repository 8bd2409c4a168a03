"""What every route of the gallery shares: the Client, rendering, errors, replies.

The app's one Client serves the server's worker threads directly (it sets
itself up once, under its own lock); :func:`balance_or_none` reads its credits
for a page that must render anyway. :class:`Pages` renders templates with the
CSRF token in them and turns the library's errors into a page or a JSON
answer. :func:`reply` answers a form or a script alike: JSON when the script
asked for it, else a redirect.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from genvault import (
    BackendUnreachable,
    Client,
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
from genvault.web._guard import CSRF_FIELD, csrf_cookie_name

__all__ = [
    "HERE",
    "NO_STORE",
    "PAGE_SIZE",
    "Pages",
    "balance_or_none",
    "describe",
    "field",
    "image_response",
    "local_path",
    "reply",
    "wants_json",
    "when",
]

HERE = Path(__file__).parent
PAGE_SIZE = 30
NO_STORE = {"cache-control": "no-store"}

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


def describe(exc: GenvaultError) -> tuple[int, str, str, str | None]:
    """(status, heading, message, hint) for an error of the library."""
    for cls in type(exc).__mro__:
        if cls in _ERRORS:
            status, title, hint = _ERRORS[cls]
            break
    else:
        status, title, hint = 500, "Something went wrong", None
    message = "You have no credits left." if isinstance(exc, InsufficientCredits) else exc.message
    return status, title, message, hint or exc.hint


def when(value: datetime) -> str:
    """A time in this machine's time zone, e.g. "3 Mar 2025, 14:05"."""
    local = value.astimezone()
    return f"{local.day} {local:%b %Y, %H:%M}"


def field(form: FormData, name: str, default: str = "") -> str:
    """A form field's text, or ``default`` when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else default


def wants_json(request: Request) -> bool:
    """Whether the page's script (not a plain form) sent the request."""
    return "application/json" in request.headers.get("accept", "")


def local_path(value: str, default: str) -> str:
    """``value`` when it is a path on this server, else ``default`` (no open redirects)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def reply(
    request: Request,
    form: FormData | None,
    payload: dict[str, Any],
    *,
    back: str,
    status: int = 200,
) -> Response:
    """JSON for the page's script; for a plain form, a redirect to its ``next`` or ``back``."""
    if wants_json(request):
        return JSONResponse(payload, status_code=status, headers=NO_STORE)
    target = local_path(field(form, "next"), back) if form is not None else back
    return RedirectResponse(target, status_code=303)


def image_response(
    request: Request, image_id: str, data: bytes, *, thumbnail: bool, cache: str | None = None
) -> Response:
    """An image as WebP, shown in the page or (with ?download=1) saved."""
    disposition = "attachment" if request.query_params.get("download") else "inline"
    name = f"genvault-{image_id}{'.thumb' if thumbnail else ''}.webp"
    headers = {
        "content-disposition": f'{disposition}; filename="{name}"',
        "cache-control": cache or "private, max-age=3600",
    }
    return Response(data, media_type="image/webp", headers=headers)


def balance_or_none(client: Client) -> int | None:
    """Credits left, or None when they cannot be read just now."""
    try:
        return client.credits.balance()
    except GenvaultError:
        return None


class Pages:
    """Templates rendered with the CSRF token in them and in its cookie."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["when"] = when

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        status: int = 200,
        *,
        visitor: bool = False,
    ) -> Response:
        """A page (or fragment) with the CSRF token in it and in its cookie.

        A ``visitor`` page (what a public link shows) gets neither the token nor
        the user's navigation: it is read-only.
        """
        token = "" if visitor else self.token
        response = self.templates.TemplateResponse(
            request,
            name,
            {"csrf_field": CSRF_FIELD, "csrf_token": token, "visitor": visitor, **context},
            status_code=status,
            headers=NO_STORE,
        )
        if not visitor:
            response.set_cookie(
                csrf_cookie_name(request.scope), self.token, httponly=True, samesite="strict"
            )
        return response

    async def on_error(self, request: Request, exc: Exception) -> Response:
        """Library errors and HTTP errors as a page (for a browser) or as JSON."""
        if isinstance(exc, GenvaultError):
            status, title, message, hint = describe(exc)
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
            return self.render(request, "error.html", context, status)
        return JSONResponse(
            {"title": title, "error": message, "hint": hint}, status_code=status, headers=NO_STORE
        )
