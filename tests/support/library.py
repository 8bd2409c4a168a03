"""For the library tests: clients acting as test users, and image models to script."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from PIL import Image

from genvault import Client, ModelFailed, Settings
from genvault._imagegen import ImageRequest, ImageResult, StatusCallback
from tests.support.users import TEST_JWT_SECRET, User


def settings_for(database_url: str, home: Path) -> Settings:
    """Direct transport to the test database, local storage under ``home``."""
    return Settings(home=home, database_url=database_url, jwt_secret=TEST_JWT_SECRET)


def client_for(user: User, database_url: str, home: Path) -> Client:
    """A client signed in as ``user`` with a token the project's secret signed."""
    return Client(settings_for(database_url, home), access_token=user.token())


class SignedIn(NamedTuple):
    """A new test user and a Client signed in as them; ``with`` closes the client."""

    user: User
    client: Client

    def __enter__(self) -> SignedIn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.close()


SignIn = Callable[..., SignedIn]
"""The ``signed_in`` fixture: ``signed_in(credits=N)`` is a new user and their Client."""

ClientOf = Callable[[User], Client]
"""The ``client_of`` fixture: ``client_of(user)`` is a new Client signed in as ``user``."""


def png_bytes(colour: tuple[int, int, int] = (200, 40, 40), size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


@dataclass
class ScriptedModel:
    """An image model whose behaviour a test decides (the model is the test's boundary)."""

    name: str = "test/scripted"
    offline: bool = True
    fail_with: BaseException | None = None
    data: bytes = field(default_factory=png_bytes)
    before_return: Callable[[], None] | None = None
    calls: int = 0

    def generate(
        self, request: ImageRequest, *, on_status: StatusCallback | None = None
    ) -> ImageResult:
        self.calls += 1
        if on_status:
            on_status("running", "scripted")
        if self.fail_with is not None:
            raise self.fail_with
        if self.before_return:
            self.before_return()
        return ImageResult(self.data, "image/png", self.name, seed=request.seed)


def failing_model(message: str = "the model exploded") -> ScriptedModel:
    return ScriptedModel(fail_with=ModelFailed(message))
