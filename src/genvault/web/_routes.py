"""What each group of the gallery's routes is built on.

A group is one class per resource (History, the trash, collections, links,
...): it is bound to the app's one Client and its renderer, and lists its own
routes for :func:`genvault.web._app.build_app`. Like the rest of the gallery,
each route reads the request, calls the library in a worker thread and
renders; the database decides what the user may see and change.
State-changing routes answer the page's script with JSON and a plain form
with a redirect (see :func:`genvault.web._base.reply`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from genvault import Client
from genvault.web._base import Pages, field, local_path

__all__ = ["Routes"]


class Routes(ABC):
    """A group of routes, bound to the app's Client and renderer."""

    def __init__(self, client: Client, pages: Pages) -> None:
        self.client = client
        self.pages = pages

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """Every route of this group."""

    def confirm(
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
