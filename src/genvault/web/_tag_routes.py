"""The gallery's stars and tags on one image.

    POST   /generations/{id}/star           star or unstar (starred=1|0)
    POST   /generations/{id}/tags           add tags (tags="a, b")
    POST   /generations/{id}/untag          remove one tag (tag=...)

Each answers the page's script with JSON, and a plain form with a redirect
back to where it was sent from.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from genvault import GenerationsRepo, InvalidInput, NotFound
from genvault.web._base import field, reply
from genvault.web._routes import Routes

__all__ = ["TagRoutes"]


def _split_tags(text: str) -> list[str]:
    """Tags typed as "portrait, winter light", as the library stores them."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InvalidInput("no tag given", hint="type a tag, or several separated by commas")
    return GenerationsRepo.clean_tags(parts)


class TagRoutes(Routes):
    """Starring and tagging an image of the user's history."""

    def routes(self) -> list[BaseRoute]:
        post = ["POST"]
        return [
            Route("/generations/{id}/star", self.star, methods=post),
            Route("/generations/{id}/tags", self.tag, methods=post),
            Route("/generations/{id}/untag", self.untag, methods=post),
        ]

    async def star(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        starred = field(form, "starred", "1") not in ("0", "false", "")

        def run() -> None:
            if not self.client.generations.star([generation_id], starred=starred):
                raise NotFound(f"no generation {generation_id}")

        await run_in_threadpool(run)
        payload = {"id": generation_id, "starred": starred}
        return reply(request, form, payload, back="/history")

    async def tag(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        tags = _split_tags(field(form, "tags"))

        def run() -> int:
            repo = self.client.generations
            repo.get(generation_id)  # NotFound for an id that is not the user's
            return repo.tag([generation_id], tags)

        added = await run_in_threadpool(run)
        payload = {"id": generation_id, "tags": tags, "added": added}
        return reply(request, form, payload, back="/history")

    async def untag(self, request: Request) -> Response:
        generation_id = request.path_params["id"]
        form = await request.form()
        typed = field(form, "tag")

        def run() -> tuple[int, str]:
            repo = self.client.generations
            repo.get(generation_id)
            [tag] = repo.clean_tags([typed])
            return repo.untag([generation_id], [tag]), tag

        removed, tag = await run_in_threadpool(run)
        payload = {"id": generation_id, "tag": tag, "removed": removed}
        return reply(request, form, payload, back="/history")
