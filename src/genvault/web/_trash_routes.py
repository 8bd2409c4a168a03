"""The gallery's trash: what the user deleted, kept for 30 days.

    GET    /trash, /trash/cards             the trash, and its next pages as HTML
    POST   /trash/{id}/restore              back to the history
    POST   /trash/{id}/delete               delete for good (confirmed=yes)
    POST   /trash/empty                     delete everything in the trash (confirmed=yes)

Moving an image to the trash is History's (:mod:`genvault.web._app`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import Generation, HistoryFilter, InvalidInput, NotFound, Page
from genvault.web._base import PAGE_SIZE, field, reply, wants_json
from genvault.web._routes import Routes

__all__ = ["TrashRoutes"]

TRASH_DAYS = 30


def _days_left(trashed_at: datetime | None) -> int:
    if trashed_at is None:
        return TRASH_DAYS
    gone = trashed_at + timedelta(days=TRASH_DAYS)
    return max(0, math.ceil((gone - datetime.now(UTC)).total_seconds() / 86400))


class TrashRoutes(Routes):
    """The trash's page and what can be done there: restore, delete for good, empty."""

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/trash", self.trash_page, methods=get),
            Route("/trash/cards", self.trash_cards, methods=get),
            Route("/trash/empty", self.empty_trash, methods=post),
            Route("/trash/{id}/restore", self.restore, methods=post),
            Route("/trash/{id}/delete", self.delete_for_good, methods=post),
        ]

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
            return self.confirm(
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
            return self.confirm(
                request,
                form,
                title="Empty the trash?",
                text="Every image in the trash is deleted for good. This cannot be undone.",
                button="Empty trash",
                back="/trash",
            )
        removed = await run_in_threadpool(lambda: self.client.generations.empty_trash())
        return reply(request, form, {"deleted": removed}, back="/trash")
