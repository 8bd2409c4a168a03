"""Helpers for the web page's tests: a gallery served by uvicorn in a thread, and Chromium.

The fixtures here (``browser``, ``gallery``, ``page``) are imported by the web
test modules; ``csrf`` reads the token a page carries, for HTTP-level tests.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from genvault import Client, Generation
from genvault.web import create_app
from tests.conftest import User
from tests.library_fixtures import client_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
SECRET = b"test csrf secret"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Gallery:
    """A running gallery app, the user it acts as, and that user's Client."""

    url: str
    user: User
    client: Client

    def make(self, prompt: str, *, aspect_ratio: str = "1:1") -> Generation:
        """Add an image to the user's history through the library (offline model)."""
        return self.client.create(prompt, model="genvault/offline", aspect_ratio=aspect_ratio)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def gallery(make_user: Any, database_url: str, tmp_path: Path) -> Iterator[Callable[..., Gallery]]:
    """Factory: ``gallery(credits=N)`` serves a gallery for a new user with N credits.

    Every gallery of one test keeps its images in the same data folder, as
    galleries of several users on one machine do.
    """
    with ExitStack() as stack:

        def start(credits: int = 10) -> Gallery:
            user = make_user(credits=credits)
            client = stack.enter_context(client_for(user, database_url, tmp_path / "data"))
            url = stack.enter_context(serve(create_app(client, csrf_secret=SECRET)))
            return Gallery(url, user, client)

        yield start


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


def csrf(url: str) -> tuple[str, dict[str, str]]:
    """The token a page of the gallery at ``url`` carries, and its cookie."""
    response = httpx.get(url + "/")
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', response.text)
    assert token is not None
    return token.group(1), dict(response.cookies)
