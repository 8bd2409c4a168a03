"""The web page: what a person can do in the browser, and what the server refuses.

The gallery runs with uvicorn on 127.0.0.1 against the test database, acting as
a test user; the browser is Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
import psycopg
import typer
from playwright.sync_api import Browser, Page, expect
from typer.testing import CliRunner

from genvault import Client, HistoryFilter, Settings
from genvault.cli._ui import ui
from genvault.web import create_app
from tests.support.web import ARTIFACTS, DESKTOP, PHONE, Gallery, csrf, serve

UNKNOWN_ID = "3f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7c"


# -- generating -------------------------------------------------------------------


def test_generate_shows_the_new_image_and_puts_it_on_top_of_history(
    gallery: Callable[..., Gallery], page: Page
) -> None:
    g = gallery(credits=3)
    g.make("an older picture")  # spends one credit
    page.goto(g.url + "/")
    expect(page.locator("#credits-count")).to_have_text("2")

    prompt = page.get_by_label("Prompt")
    prompt.fill("a lighthouse at dusk")
    expect(page.locator("#prompt-count")).to_have_text("20 / 2,000")
    prompt.press("Shift+Enter")
    prompt.press_sequentially("with gulls")
    assert prompt.input_value() == "a lighthouse at dusk\nwith gulls"
    expect(page.locator("#credits-count")).to_have_text("2")  # Shift+Enter did not generate

    with page.expect_response(lambda r: r.url.endswith("/generate")) as answer:
        prompt.press("Enter")
    assert answer.value.status == 200
    result = page.locator("#result img")
    expect(result).to_have_attribute("alt", "a lighthouse at dusk\nwith gulls")
    expect(page.locator("#credits-count")).to_have_text("1")
    expect(page.locator("#toast")).to_have_text("Saved to your history")
    expect(result).to_have_js_property("complete", True)
    assert result.evaluate("img => img.naturalWidth") > 0

    page.get_by_role("link", name="History", exact=True).click()
    first = page.locator(".card").first
    expect(first.locator("img")).to_have_attribute("alt", "a lighthouse at dusk\nwith gulls")
    expect(page.locator(".card")).to_have_count(2)
    newest = g.client.generations.list(limit=1).items[0]
    assert first.get_attribute("data-id") == newest.id
    assert newest.model == "genvault/offline"


def test_no_credits_gives_a_clear_message(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery(credits=0)
    page.goto(g.url + "/")
    expect(page.locator("#no-credits-notice")).to_contain_text("no credits left")
    page.get_by_label("Prompt").fill("anything at all")
    with page.expect_response(lambda r: r.url.endswith("/generate")) as answer:
        page.get_by_role("button", name="Generate").click()
    assert answer.value.status == 402
    alert = page.locator("#generate-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("You have no credits left.")
    expect(alert).to_contain_text("Ask an operator for more credits")
    assert g.client.generations.list().items == []


def test_the_page_works_without_javascript(
    gallery: Callable[..., Gallery], browser: Browser
) -> None:
    g = gallery(credits=2)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(g.url + "/")
    page.get_by_label("Prompt").fill("drawn without scripts")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".result img")).to_have_attribute("alt", "drawn without scripts")
    expect(page.locator("#credits-count")).to_have_text("1")

    page.goto(g.url + "/history")
    page.locator(".card").first.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Move this image to the trash?")).to_be_visible()
    expect(page.get_by_text("You can restore it from the Trash for 30 days")).to_be_visible()
    page.get_by_role("button", name="Move to trash").click()
    expect(page.get_by_text("No images yet.")).to_be_visible()
    assert g.client.generations.list().items == []
    [trashed] = g.client.generations.find(HistoryFilter(trash=True)).items
    assert trashed.prompt == "drawn without scripts"
    context.close()


# -- history ------------------------------------------------------------------------


def test_lightbox_moves_with_arrows_and_closes_with_escape(
    gallery: Callable[..., Gallery], page: Page
) -> None:
    g = gallery()
    for prompt in ("first fox", "second fox", "third fox"):
        g.make(prompt)
    page.goto(g.url + "/history")
    expect(page.locator(".card")).to_have_count(3)
    page.locator(".card-image").first.click()

    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(page.locator("#lightbox-prompt")).to_have_text("third fox")
    expect(page.locator("#lightbox-model")).to_have_text("genvault/offline")
    expect(page.locator("#lightbox-date")).to_have_text(
        re.compile(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d")
    )
    expect(page.locator("#lightbox-prev")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-prompt")).to_have_text("second fox")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-prompt")).to_have_text("first fox")
    expect(page.locator("#lightbox-next")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox-prompt")).to_have_text("first fox")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#lightbox-prompt")).to_have_text("second fox")
    expect(page.locator("#lightbox-image")).to_have_attribute("alt", "second fox")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    # Focus goes back to the card of the image last shown (retried: it may follow
    # the lightbox's closing by a frame).
    expect(page.locator(".card:focus-within")).to_have_attribute(
        "data-id", g.client.generations.list().items[1].id
    )


def test_download_gives_the_stored_bytes(
    gallery: Callable[..., Gallery], page: Page, tmp_path: Path
) -> None:
    g = gallery()
    gen = g.make("a tall waterfall", aspect_ratio="9:16")
    stored = g.client.generations.read_image(gen)
    page.goto(g.url + "/history")

    with page.expect_download() as card_download:
        page.locator(".card").first.get_by_role("link", name="Download").click()
    assert card_download.value.suggested_filename == f"genvault-{gen.id}.webp"
    assert Path(card_download.value.path()).read_bytes() == stored

    page.locator(".card-image").first.click()
    with page.expect_download() as lightbox_download:
        page.locator("#lightbox").get_by_role("link", name="Download").click()
    target = tmp_path / "saved.webp"
    lightbox_download.value.save_as(target)
    assert target.read_bytes() == stored
    # The full-size image loads on its own time: wait for it, then read its shape.
    image = page.locator("#lightbox-image")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => img.naturalHeight > img.naturalWidth")


def test_search_narrows_as_you_type(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery()
    for prompt in ("red fox in snow", "blue whale", "Red panda on a branch"):
        g.make(prompt)
    page.goto(g.url + "/history")
    cards = page.locator(".card img")
    expect(cards).to_have_count(3)

    search = page.get_by_role("searchbox", name="Search by prompt")
    search.press_sequentially("red")  # no Enter: results follow the typing
    expect(cards).to_have_count(2)
    expect(cards.first).to_have_attribute("alt", "Red panda on a branch")
    assert page.url.endswith("/history?q=red")
    search.press_sequentially(" f")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("alt", "red fox in snow")
    search.fill("zebra")
    expect(cards).to_have_count(0)
    expect(page.locator("#empty-search")).to_have_text("No images match these filters.")
    search.fill("")
    expect(cards).to_have_count(3)
    expect(page.locator("#empty")).to_be_hidden()


def test_history_scrolls_to_older_pages(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery(credits=40)
    made = [g.make(f"picture number {i}") for i in range(33)]
    page.set_viewport_size(PHONE)
    page.goto(g.url + "/history")
    cards = page.locator(".card")
    expect(cards).to_have_count(30)
    page.locator("#older").scroll_into_view_if_needed()
    expect(cards).to_have_count(33)
    expect(page.locator("#older")).to_be_hidden()
    ids = [c.get_attribute("data-id") for c in cards.all()]
    assert ids == [gen.id for gen in reversed(made)]
    assert page.locator(".card img").first.get_attribute("loading") == "lazy"


def test_grid_columns_follow_the_screen_width(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery()
    g.make("one picture is enough to lay out")
    page.goto(g.url + "/history")
    grid = page.locator("#grid")
    for width, columns in ((390, 1), (700, 2), (900, 3), (1200, 4), (1440, 5), (1920, 6)):
        page.set_viewport_size({"width": width, "height": 900})
        tracks = grid.evaluate("grid => getComputedStyle(grid).gridTemplateColumns.split(' ')")
        assert len(tracks) == columns, width


def test_delete_asks_first(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery()
    keep = g.make("keep me")
    g.make("delete me")
    page.goto(g.url + "/history")
    cards = page.locator(".card")
    expect(cards).to_have_count(2)

    first = cards.first
    first.get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-delete")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You can restore it from the Trash for 30 days")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "history-desktop-confirm-delete.png")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(cards).to_have_count(2)

    first.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Move to trash").click()
    expect(cards).to_have_count(1)
    expect(page.locator("#toast")).to_have_text("Moved to the trash")
    assert [gen.id for gen in g.client.generations.list().items] == [keep.id]

    page.locator(".card-image").first.click()
    page.locator("#lightbox").get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Move to trash").click()
    expect(page.locator("#lightbox")).to_be_hidden()
    expect(cards).to_have_count(0)
    expect(page.get_by_text("No images yet.")).to_be_visible()
    assert g.client.generations.list().items == []
    trash = g.client.generations.find(HistoryFilter(trash=True)).items
    assert {gen.prompt for gen in trash} == {"keep me", "delete me"}  # restorable


def test_another_user_sees_none_of_the_first_users_images(
    gallery: Callable[..., Gallery], browser: Browser
) -> None:
    alice, bob = gallery(), gallery()
    private = alice.make("alice's private sketch")
    bob.make("bob's own picture")

    context = browser.new_context()
    page = context.new_page()
    page.goto(bob.url + "/history")
    expect(page.locator(".card img")).to_have_count(1)
    expect(page.locator(".card img")).to_have_attribute("alt", "bob's own picture")
    page.get_by_role("searchbox").fill("alice")
    expect(page.locator("#empty-search")).to_be_visible()
    for path in (f"/images/{private.id}", f"/images/{private.id}/thumb"):
        assert page.request.get(bob.url + path).status == 404
    assert page.request.get(alice.url + f"/images/{private.id}").status == 200
    token, cookies = csrf(bob.url)
    refused = httpx.delete(
        f"{bob.url}/generations/{private.id}", headers={"x-csrf-token": token}, cookies=cookies
    )
    assert refused.status_code == 404
    assert alice.client.generations.get(private.id).id == private.id
    context.close()


def test_an_unreachable_database_shows_a_banner(
    tmp_path: Path, browser: Browser, make_user: Any
) -> None:
    anon = jwt.encode({"role": "anon"}, "k" * 40, algorithm="HS256")
    settings = Settings(home=tmp_path, supabase_url="http://127.0.0.1:9", supabase_key=anon)
    client = Client(settings, access_token=make_user().token())
    with serve(create_app(client)) as url:
        page = browser.new_page(viewport=PHONE)
        response = page.goto(url + "/history")
        assert response is not None
        assert response.status == 503
        banner = page.get_by_role("alert")
        expect(banner).to_contain_text("Can't reach the database")
        expect(banner).to_contain_text("check SUPABASE_URL")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "history-phone-unreachable.png")
        page.close()
        assert httpx.get(url + "/history/cards").json()["title"] == "Can't reach the database"


# -- what the server refuses --------------------------------------------------------


def test_every_response_carries_the_security_headers(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    gen = g.make("headers")
    for path in ("/", "/history", "/static/gallery.css", f"/images/{gen.id}", "/nowhere"):
        headers = httpx.get(g.url + path).headers
        policy = headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "img-src 'self' data: blob:",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ):
            assert directive in policy, (path, policy)
        assert "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    page = httpx.get(g.url + "/")
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie
    assert "httponly" in cookie
    assert "<script>" not in page.text  # only <script src=...>: nothing inline


def test_state_changes_need_the_csrf_token(gallery: Callable[..., Gallery]) -> None:
    g = gallery(credits=5)
    gen = g.make("guarded")
    token, cookies = csrf(g.url)
    form = {"prompt": "forged", "aspect_ratio": "1:1"}

    assert httpx.post(g.url + "/generate", data=form).status_code == 403
    assert httpx.post(g.url + "/generate", data=form, cookies=cookies).status_code == 403
    wrong = {**form, "csrf_token": "0" * 64}
    assert httpx.post(g.url + "/generate", data=wrong, cookies=cookies).status_code == 403
    with_token = {**form, "csrf_token": token}
    assert httpx.post(g.url + "/generate", data=with_token).status_code == 403  # no cookie
    cross = httpx.post(
        g.url + "/generate",
        data=with_token,
        cookies=cookies,
        headers={"origin": "http://evil.test"},
    )
    assert cross.status_code == 403
    assert httpx.delete(f"{g.url}/generations/{gen.id}", cookies=cookies).status_code == 403
    assert g.client.credits.balance() == 4
    assert len(g.client.generations.list().items) == 1

    made = httpx.post(g.url + "/generate", data=with_token, cookies=cookies)
    assert made.status_code == 303
    assert made.headers["location"].startswith("/?made=")
    gone = httpx.delete(
        f"{g.url}/generations/{gen.id}", headers={"x-csrf-token": token}, cookies=cookies
    )
    assert gone.status_code == 200
    assert gone.json() == {"id": gen.id, "trashed": True}


def test_requests_for_another_host_are_refused(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    port = g.url.rsplit(":", 1)[1]
    for host in (f"evil.test:{port}", "evil.test", f"127.0.0.1:{int(port) + 1}", "127.0.0.2"):
        response = httpx.get(g.url + "/", headers={"host": host})
        assert response.status_code == 400, host
        assert "content-security-policy" in response.headers
    assert httpx.get(g.url + "/", headers={"host": f"localhost:{port}"}).status_code == 200


def test_unknown_and_malformed_ids(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    token, cookies = csrf(g.url)
    headers = {"x-csrf-token": token}
    assert httpx.get(f"{g.url}/images/{UNKNOWN_ID}").status_code == 404
    assert httpx.get(f"{g.url}/images/{UNKNOWN_ID}/thumb").status_code == 404
    assert httpx.get(f"{g.url}/images/not-an-id").status_code == 400
    assert httpx.get(f"{g.url}/images/not-an-id/thumb").status_code == 400
    unknown = httpx.delete(f"{g.url}/generations/{UNKNOWN_ID}", headers=headers, cookies=cookies)
    assert unknown.status_code == 404
    malformed = httpx.delete(f"{g.url}/generations/nope", headers=headers, cookies=cookies)
    assert malformed.status_code == 400
    missing = httpx.get(f"{g.url}/images/{UNKNOWN_ID}", headers={"accept": "text/html"})
    assert missing.status_code == 404
    assert "Not found" in missing.text
    assert httpx.get(g.url + "/history?before=garbage").status_code == 400


def test_images_are_served_as_webp(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    gen = g.make("served")
    full = httpx.get(f"{g.url}/images/{gen.id}")
    assert full.headers["content-type"] == "image/webp"
    assert full.headers["content-disposition"] == f'inline; filename="genvault-{gen.id}.webp"'
    assert full.content == g.client.generations.read_image(gen)
    thumb = httpx.get(f"{g.url}/images/{gen.id}/thumb")
    assert thumb.headers["content-type"] == "image/webp"
    assert thumb.content == g.client.generations.read_image(gen, thumbnail=True)
    saved = httpx.get(f"{g.url}/images/{gen.id}?download=1")
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert str(gen.image_url) not in httpx.get(g.url + "/history").text  # no storage paths


def test_generate_streams_its_progress(gallery: Callable[..., Gallery]) -> None:
    g = gallery(credits=1)
    token, cookies = csrf(g.url)
    headers = {"x-csrf-token": token, "accept": "application/x-ndjson"}
    form = {"prompt": "streamed", "aspect_ratio": "16:9"}
    answer = httpx.post(g.url + "/generate", data=form, headers=headers, cookies=cookies)
    assert answer.status_code == 200
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [e["type"] for e in events] == ["status"] * (len(events) - 1) + ["done"]
    assert {e["phase"] for e in events[:-1]} >= {"queued", "saving"}
    assert events[-1]["credits"] == 0
    assert events[-1]["image"] == f"/images/{events[-1]['id']}"

    again = httpx.post(g.url + "/generate", data=form, headers=headers, cookies=cookies)
    assert again.status_code == 402
    assert again.json()["error"] == "You have no credits left."
    empty = {"prompt": "   ", "aspect_ratio": "1:1"}
    refused = httpx.post(g.url + "/generate", data=empty, headers=headers, cookies=cookies)
    assert refused.status_code == 400
    assert refused.json()["error"] == "the prompt is empty"


# -- gen ui --------------------------------------------------------------------------


def test_gen_ui_needs_someone_signed_in() -> None:
    app = typer.Typer()
    app.command()(ui)
    result = CliRunner().invoke(app, ["--no-open"])
    assert result.exit_code == 1
    assert "sign in first with `gen login`" in result.output
    refused = CliRunner().invoke(app, ["--host", "192.0.2.7", "--no-open"])
    assert refused.exit_code == 2


def as_url(conninfo: str) -> str:
    """A libpq connection string as the postgresql:// URL DATABASE_URL takes."""
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    if str(conninfo).startswith(("postgresql://", "postgres://")):
        return conninfo
    auth = quote(str(info.get("user", "")))
    if info.get("password"):
        auth += ":" + quote(str(info["password"]))
    query = {k: str(v) for k, v in info.items() if k not in ("user", "password", "dbname")}
    return f"postgresql://{auth}@/{quote(str(info['dbname']))}?{urlencode(query)}"


def test_gen_ui_serves_the_signed_in_user(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": as_url(database_url),
        "GENVAULT_HOME": str(tmp_path / "gv"),
    }
    with Client(Settings.from_env(env)) as client:
        client.sign_in_local("ui-tester")
        client.create("made before the page opened", model="genvault/offline")
    code = "import typer; from genvault.cli._ui import ui; typer.run(ui)"
    server = subprocess.Popen(
        [sys.executable, "-u", "-c", code, "--no-open"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url
        page = httpx.get(url + "history", timeout=10)
        assert page.status_code == 200
        assert "made before the page opened" in page.text
    finally:
        server.terminate()
        server.wait(10)


# -- how it looks ---------------------------------------------------------------------

SCENES = [
    ("a red fox in fresh snow, morning light", "1:1"),
    ("lighthouse on a cliff at dusk, long exposure", "16:9"),
    ("a bowl of ramen, top-down photo", "1:1"),
    ("portrait of an astronaut cat, studio lighting", "3:4"),
    ("watercolour map of an imaginary island", "4:3"),
    ("neon street in the rain at night", "9:16"),
    ("a quiet library with tall windows and dust in the light", "3:2"),
    ("macro photo of a dew drop on a leaf", "1:1"),
]


def test_screenshots_of_both_tabs(gallery: Callable[..., Gallery], browser: Browser) -> None:
    g = gallery(credits=20)
    made = [g.make(prompt, aspect_ratio=ratio) for prompt, ratio in SCENES]
    ARTIFACTS.mkdir(exist_ok=True)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport=viewport, color_scheme=scheme)
            page = context.new_page()
            page.goto(f"{g.url}/?made={made[-1].id}")
            page.get_by_label("Prompt").fill("a paper boat on a pond")
            page.screenshot(path=ARTIFACTS / f"generate-{name}-{scheme}.png")
            page.goto(g.url + "/history")
            for image in page.locator(".card img").all()[:5]:
                image.scroll_into_view_if_needed()  # thumbnails load lazily
                expect(image).to_have_js_property("complete", True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=ARTIFACTS / f"history-{name}-{scheme}.png")
            page.locator(".card-image").nth(1).click()
            expect(page.locator("#lightbox-image")).to_have_js_property("complete", True)
            page.screenshot(path=ARTIFACTS / f"lightbox-{name}-{scheme}.png")
            context.close()

    newcomer = gallery(credits=0)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(newcomer.url + "/")
    page.screenshot(path=ARTIFACTS / "generate-desktop-no-credits.png")
    page.goto(newcomer.url + "/history")
    expect(page.get_by_text("No images yet.")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "history-desktop-empty.png")
    context.close()
