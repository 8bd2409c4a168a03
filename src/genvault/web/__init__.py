"""The gallery in a browser, served locally by `gen ui`: Generate, History (with
filters, stars and tags), Collections, Shared with me, the Trash and public links.

    from genvault import Client
    from genvault.web import create_app

    app = create_app(Client())        # a Starlette app; serve it with uvicorn on 127.0.0.1

Every request acts as the user signed in on the Client's profile. The page
never sees a key or a token: images are read through the library and served
from ``/images/<id>``. A public link's page, ``/l/<token>``, is read-only and
carries neither the CSRF token nor the user's navigation. See
:mod:`genvault.web._guard` for the defences (Host check, CSRF token,
Content-Security-Policy).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from genvault.web._guard import make_token

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from genvault import Client

__all__ = ["create_app"]


def create_app(client: Client, *, csrf_secret: bytes | None = None) -> Starlette:
    """The gallery app for ``client``'s signed-in user.

    ``csrf_secret`` derives the CSRF token; by default a random one is made, so
    each app instance has its own token and a restarted server refuses forms
    from pages the previous one rendered.
    """
    from genvault.web._app import build_app

    secret = csrf_secret if csrf_secret is not None else secrets.token_bytes(32)
    return build_app(client, make_token(secret))
