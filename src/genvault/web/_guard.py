"""The page's defences, applied to every request before any route runs.

The gallery acts as the user signed in on this machine, so anything that can
make the browser send it a request could act as them too. :class:`Guard` shuts
the three ways in:

- DNS rebinding: a hostile site whose name resolves to 127.0.0.1 reaches the
  server with its own name in the Host header. Only ``127.0.0.1:<port>`` and
  ``localhost:<port>`` are served; anything else gets 400.
- Cross-site requests: every POST or DELETE must carry the app's CSRF token in
  the ``X-CSRF-Token`` header or a ``csrf_token`` form field, and the same token
  in a SameSite=Strict cookie; an ``Origin`` other than our own is refused.
  The token is made per app instance and compared with ``hmac.compare_digest``.
- Content injection and framing: every response carries a strict
  Content-Security-Policy (no inline script or style, nothing from elsewhere,
  no frames), ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "Guard", "csrf_cookie_name", "make_token"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024
LOCAL_NAMES = ("127.0.0.1", "localhost")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def make_token(secret: bytes) -> str:
    """The CSRF token of an app instance whose secret is ``secret``."""
    return hmac.new(secret, b"genvault web csrf", hashlib.sha256).hexdigest()


def csrf_cookie_name(scope: Scope) -> str:
    """The cookie holding the token; named by port, since cookies ignore ports
    and two galleries (two profiles) may be open at once."""
    server = scope.get("server")
    port = server[1] if server and server[1] is not None else 0
    return f"genvault_csrf_{port}"


def host_allowed(host: str | None, scope: Scope) -> bool:
    """Whether the Host header names this server on the loopback address."""
    if not host:
        return False
    name, sep, port = host.rpartition(":")
    if not sep or not port.isdigit():
        name, port = host, "80"
    if name.lower() not in LOCAL_NAMES:
        return False
    server = scope.get("server")
    return not (server and server[1] is not None and int(port) != int(server[1]))


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware: Host check, CSRF check on unsafe methods, security headers."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        headers = Headers(scope=scope)
        if not host_allowed(headers.get("host"), scope):
            await _refuse(400, "unexpected Host header", scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            refusal, receive = await self._check_csrf(scope, receive, headers)
            if refusal is not None:
                status, message = refusal
                await _refuse(status, message, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _check_csrf(
        self, scope: Scope, receive: Receive, headers: Headers
    ) -> tuple[tuple[int, str] | None, Receive]:
        """(None, receive) when the request may go on, else ((status, reason), receive).

        A form field can only be read from the body, so a form's body is read
        here and handed on to the route unchanged.
        """
        # With Referrer-Policy no-referrer, Chromium sends "Origin: null" on a
        # plain form POST; such a request still needs the token and the cookie.
        origin = headers.get("origin")
        if origin not in (None, "null", f"http://{headers.get('host')}"):
            return (403, "cross-origin request refused"), receive
        cookies = _cookies(headers.get("cookie", ""))
        if not _same(cookies.get(csrf_cookie_name(scope)), self.token):
            return (403, "missing or stale CSRF cookie; reload the page"), receive
        given = headers.get(CSRF_HEADER)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if given is None and content_type == "application/x-www-form-urlencoded":
            body = await _read_body(receive, MAX_FORM_BYTES)
            if body is None:
                return (413, "request body too large"), receive
            receive = _replay(body, receive)
            try:
                fields = parse_qs(body.decode("latin-1"), max_num_fields=50)
            except ValueError:
                return (400, "too many form fields"), receive
            values = fields.get(CSRF_FIELD)
            given = values[0] if values else None
        if not _same(given, self.token):
            return (403, "missing or wrong CSRF token; reload the page"), receive
        return None, receive


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value)
    return out


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
        await send(message)

    return wrapped


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse(message, status_code=status, headers={"cache-control": "no-store"})
    await response(scope, receive, send)
