"""For the web page's tests: a gallery served by uvicorn in a thread, and Chromium.

The fixtures built on these (``browser``, ``gallery``, ``page``) are in
tests/conftest.py; ``csrf`` reads the token a page carries, for HTTP-level tests.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import ViewportSize

from genvault import Client, Generation
from tests.support.users import User

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


def csrf(url: str) -> tuple[str, dict[str, str]]:
    """The token a page of the gallery at ``url`` carries, and its cookie."""
    response = httpx.get(url + "/")
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', response.text)
    assert token is not None
    return token.group(1), dict(response.cookies)
