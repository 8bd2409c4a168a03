"""The gallery's one Client serves many requests at once: from a cold start (no pool,
no token checked yet) and while images are being made, every answer is right."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from genvault.web import create_app
from tests.support.library import client_for
from tests.support.web import SECRET, csrf, serve


def _all_at_once(count: int, call: Any) -> list[Any]:
    """``call(i)`` for i in range(count), each in its own thread, released together."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(timeout=30)
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_requests_on_a_cold_client(
    make_user: Any, database_url: str, tmp_path: Path
) -> None:
    user = make_user(credits=8)
    home = tmp_path / "data"
    with client_for(user, database_url, home) as maker:
        made = [maker.create(f"scene {i}", model="genvault/offline") for i in range(3)]
        thumbs = {g.id: maker.generations.read_image(g, thumbnail=True) for g in made}
    cold = client_for(user, database_url, home)  # nothing set up yet
    with cold, serve(create_app(cold, csrf_secret=SECRET)) as url:
        paths = ["/", "/history", "/trash", "/collections"] + [f"/images/{g}/thumb" for g in thumbs]
        wanted = paths * 3

        def get(i: int) -> httpx.Response:
            return httpx.get(url + wanted[i], headers={"accept": "text/html"}, timeout=60)

        answers = _all_at_once(len(wanted), get)
        assert [a.status_code for a in answers] == [200] * len(wanted)
        for path, answer in zip(wanted, answers, strict=True):
            if path.endswith("/thumb"):
                assert answer.content == thumbs[path.split("/")[2]]
            if path == "/history":
                assert all(f'data-id="{gen_id}"' in answer.text for gen_id in thumbs)

        token, cookies = csrf(url)
        headers = {"x-csrf-token": token, "accept": "application/x-ndjson"}

        def generate(i: int) -> dict[str, Any]:
            form = {"prompt": f"made at once {i}", "aspect_ratio": "1:1"}
            answer = httpx.post(
                url + "/generate", data=form, headers=headers, cookies=cookies, timeout=120
            )
            assert answer.status_code == 200
            last: dict[str, Any] = json.loads(answer.text.splitlines()[-1])
            return last

        done = _all_at_once(4, generate)
        assert [d["type"] for d in done] == ["done"] * 4
        assert len({d["id"] for d in done}) == 4
        assert cold.credits.balance() == 8 - 3 - 4
        history = {g.prompt for g in cold.generations.list(limit=20).items}
        assert {f"made at once {i}" for i in range(4)} <= history
