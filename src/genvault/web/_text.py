"""Refuse a request whose address or form holds text that is not UTF-8.

Starlette decodes what it cannot read without complaint: a percent-escape
that is not UTF-8 (``?q=caf%E9``) becomes U+FFFD, and a raw byte in a form
body is read as Latin-1. A search, a prompt or a collection name would then be
changed silently before the library ever saw it. :class:`Utf8Only` reads the
query string, and the body of a URL-encoded form, byte by byte first; when a
name or value is not UTF-8 the request gets the same 400 page (or JSON) as any
other bad input, and no route runs.

Multipart bodies are left to Starlette: the gallery's pages and scripts never
send them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from genvault import InvalidInput
from genvault.web._guard import MAX_FORM_BYTES, _read_body, _replay

__all__ = ["Utf8Only", "undecodable"]

ErrorPage = Callable[[Request, Exception], Awaitable[Response]]
FORM = "application/x-www-form-urlencoded"


def undecodable(encoded: bytes) -> str | None:
    """The first name (or the name of the first value) in a URL-encoded query or
    form that is not UTF-8 once its percent-escapes are undone; None when all are."""
    for pair in encoded.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return "a field name"
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return f"the field {key[:40]!r}"
    return None


def refusal(where: str, what: str) -> InvalidInput:
    """The InvalidInput for text that is not UTF-8 in ``where`` (the address or the form)."""
    return InvalidInput(
        f"{what} in the {where} is not valid text (it contains bytes that are not UTF-8)",
        hint="retype it, or check that the page or script sends UTF-8",
    )


class Utf8Only:
    """ASGI middleware: a query or URL-encoded form that is not UTF-8 gets a 400."""

    def __init__(self, app: ASGIApp, *, on_error: ErrorPage) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error: Exception | None = None
        what = undecodable(scope.get("query_string", b""))
        if what is not None:
            error = refusal("address", what)
        content_type = Headers(scope=scope).get("content-type", "")
        if error is None and content_type.split(";")[0].strip().lower() == FORM:
            body = await _read_body(receive, MAX_FORM_BYTES)
            if body is None:
                error = HTTPException(413, "the form is too large")
            else:
                receive = _replay(body, receive)
                what = undecodable(body)
                if what is not None:
                    error = refusal("form", what)
        if error is None:
            await self.app(scope, receive, send)
            return
        # The error page links back to the address; not to this one, which cannot be read.
        response = await self.on_error(Request({**scope, "query_string": b""}), error)
        await response(scope, receive, send)
