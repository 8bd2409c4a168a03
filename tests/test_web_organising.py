"""The web page's organising features: stars, the trash, filters, tags, collections,
sharing with another user and public links; and what the server refuses.

Like tests/test_web.py, the gallery runs with uvicorn on 127.0.0.1 against the
test database, and the browser is Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Browser, Page, ViewportSize, expect

from genvault import Generation, HistoryFilter
from tests.support.database import backdate
from tests.support.web import ARTIFACTS, DESKTOP, PHONE, Gallery, csrf

UNKNOWN_ID = "3f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7c"
WIDE: ViewportSize = {"width": 1280, "height": 900}
LINK = re.compile(r"http://127\.0\.0\.1:\d+/l/[0-9a-f]{64}")


def card(page: Page, gen: Generation) -> Any:
    return page.locator(f'.card[data-id="{gen.id}"]')


def ids_on(page: Page) -> list[str | None]:
    return [c.get_attribute("data-id") for c in page.locator(".card").all()]


def trash_of(g: Gallery) -> list[Generation]:
    return g.client.generations.find(HistoryFilter(trash=True), limit=100).items


def scroll_to_end(page: Page, count: int) -> None:
    """Scroll until ``count`` cards are shown and no "Older images" link is left."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.locator(".card")).to_have_count(count)
    expect(page.locator("#older")).to_be_hidden()


# -- stars -----------------------------------------------------------------------------


def test_star_from_a_card_and_from_the_lightbox(
    gallery: Callable[..., Gallery], page: Page
) -> None:
    g = gallery()
    older, newer = g.make("a quiet harbour"), g.make("a loud market")
    page.goto(g.url + "/history")

    star = card(page, newer).get_by_role("button", name="Star")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#toast")).to_have_text("Starred")
    assert g.client.generations.get(newer.id).starred

    card(page, older).locator(".card-image").click()
    in_lightbox = page.locator("#lightbox").get_by_role("button", name="Star")
    expect(page.locator("#lightbox-prompt")).to_have_text("a quiet harbour")
    expect(in_lightbox).to_have_attribute("aria-pressed", "false")
    in_lightbox.click()
    expect(in_lightbox).to_have_attribute("aria-pressed", "true")
    expect(card(page, older).get_by_role("button", name="Star")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.keyboard.press("ArrowLeft")  # to the newer one, starred from its card
    expect(in_lightbox).to_have_attribute("aria-pressed", "true")
    in_lightbox.click()  # unstar it
    expect(in_lightbox).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Escape")

    page.reload()
    expect(card(page, older).get_by_role("button", name="Star")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(card(page, newer).get_by_role("button", name="Star")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert [gen.starred for gen in (g.client.generations.get(i.id) for i in (older, newer))] == [
        True,
        False,
    ]


# -- the trash ----------------------------------------------------------------------------


def test_trash_restore_and_delete_for_good(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery()
    keep, back, gone, also_gone = (g.make(p) for p in ("keep", "bring back", "gone", "also gone"))
    page.goto(g.url + "/history")
    for gen in (back, gone, also_gone):
        card(page, gen).get_by_role("button", name="Delete").click()
        dialog = page.locator("#confirm-delete")
        expect(dialog).to_contain_text("You can restore it from the Trash for 30 days")
        dialog.get_by_role("button", name="Move to trash").click()
        expect(card(page, gen)).to_have_count(0)
    assert ids_on(page) == [keep.id]
    assert {gen.id for gen in trash_of(g)} == {back.id, gone.id, also_gone.id}

    page.get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.locator(".card")).to_have_count(3)
    expect(card(page, back)).to_contain_text("30 days left")
    for name, viewport in (("phone", PHONE), ("desktop", WIDE)):
        page.set_viewport_size(viewport)
        for image in page.locator(".card img").all()[:2]:
            expect(image).to_have_js_property("complete", True)
        page.screenshot(path=ARTIFACTS / f"trash-{name}.png")

    card(page, back).get_by_role("button", name="Restore").click()
    expect(page.locator("#toast")).to_have_text("Image restored to your history")
    expect(card(page, back)).to_have_count(0)
    assert [gen.id for gen in g.client.generations.list().items] == [back.id, keep.id]

    card(page, gone).get_by_role("button", name="Delete for good").click()
    forget = page.locator("#confirm-forget")
    expect(forget).to_contain_text("This cannot be undone.")
    forget.get_by_role("button", name="Cancel").click()
    expect(card(page, gone)).to_have_count(1)
    card(page, gone).get_by_role("button", name="Delete for good").click()
    forget.get_by_role("button", name="Delete for good").click()
    expect(card(page, gone)).to_have_count(0)
    assert [gen.id for gen in trash_of(g)] == [also_gone.id]

    page.get_by_role("button", name="Empty trash").click()
    empty = page.locator("#confirm-empty")
    expect(empty).to_contain_text("Every image in the trash is deleted for good.")
    empty.get_by_role("button", name="Empty trash").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    expect(page.get_by_role("button", name="Empty trash")).to_be_hidden()
    assert trash_of(g) == []
    assert [gen.id for gen in g.client.generations.list().items] == [back.id, keep.id]


def test_the_trash_works_without_javascript(
    gallery: Callable[..., Gallery], browser: Browser
) -> None:
    g = gallery()
    gen = g.make("trashed without scripts")
    g.client.generations.trash([gen.id])
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(g.url + "/trash")
    page.get_by_role("button", name="Empty trash").click()
    expect(page.get_by_role("heading", name="Empty the trash?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator(".card")).to_have_count(1)
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert [i.id for i in g.client.generations.list().items] == [gen.id]
    context.close()


# -- filters, tags and collections ------------------------------------------------------------


def test_filters_by_tag_collection_starred_and_date_keep_scrolling(
    gallery: Callable[..., Gallery], page: Page, admin: psycopg.Connection[dict[str, Any]]
) -> None:
    g = gallery(credits=45)
    made = [g.make(f"scene {i}") for i in range(40)]
    old = made[:3]  # ten days older than the rest
    backdate(
        admin, "created_at - interval '10 days'", "id = any(%s::uuid[])", ([gen.id for gen in old],)
    )
    repo = g.client.generations
    snowy = made[:34]
    repo.tag([gen.id for gen in snowy], ["snow"])
    repo.tag([gen.id for gen in made[:5]], ["night"])
    winter = g.client.collections.create("Winter")
    g.client.collections.add(winter.id, [gen.id for gen in made[5:37]])
    repo.star([gen.id for gen in made[2:33]])
    newest_first = [gen.id for gen in reversed(made[3:])] + [gen.id for gen in reversed(old)]

    page.set_viewport_size(PHONE)
    page.goto(g.url + "/history")
    tags = page.get_by_role("navigation", name="Tags")
    expect(tags.locator(".chip")).to_have_text([re.compile(r"snow\s+34"), re.compile(r"night\s+5")])

    # One tag, from the tag list: 34 images over two pages.
    tags.get_by_role("link", name=re.compile("snow")).click()
    expect(page).to_have_url(re.compile(r"/history\?tag=snow$"))
    expect(page.locator(".card")).to_have_count(30)
    scroll_to_end(page, 34)
    assert set(ids_on(page)) == {gen.id for gen in snowy}
    expect(page.locator('.card .tag:text-is("snow")')).to_have_count(34)

    # Two tags: both must be on an image.
    tags.get_by_role("link", name=re.compile("night")).click()
    expect(page).to_have_url(re.compile(r"tag=snow&tag=night"))
    expect(page.locator(".card")).to_have_count(5)
    tags.get_by_role("link", name=re.compile("snow")).click()  # off again
    expect(page).to_have_url(re.compile(r"/history\?tag=night$"))

    # A collection is viewed as a filtered history, paged the same way.
    page.goto(f"{g.url}/history?collection={winter.id}")
    expect(page.get_by_role("heading", name="Winter")).to_be_visible()
    scroll_to_end(page, 32)
    assert set(ids_on(page)) == {gen.id for gen in made[5:37]}

    # Starred only, inside the collection: applied in place, kept in the address.
    page.get_by_label("Starred only").check()
    expect(page).to_have_url(re.compile(rf"collection={winter.id}&starred=1"))
    expect(page.locator(".card")).to_have_count(28)  # made[5:33]
    page.get_by_label("Collection", exact=True).select_option("")
    expect(page).to_have_url(re.compile(r"/history\?starred=1$"))
    expect(page.locator(".card")).to_have_count(30)
    scroll_to_end(page, 31)
    page.reload()
    expect(page.get_by_label("Starred only")).to_be_checked()
    scroll_to_end(page, 31)

    # A date range: "to" is a whole day, included.
    page.goto(g.url + "/history")
    today = datetime.now().astimezone().date()
    page.get_by_label("To", exact=True).fill((today - timedelta(days=5)).isoformat())
    expect(page.locator(".card")).to_have_count(3)
    assert ids_on(page) == [gen.id for gen in reversed(old)]
    page.get_by_label("Order").select_option("oldest")
    expect(page).to_have_url(re.compile(r"to=\d{4}-\d\d-\d\d&sort=oldest$"))
    expect(page.locator(".card").first).to_have_attribute("data-id", old[0].id)
    page.get_by_label("To", exact=True).fill("")
    page.get_by_label("From", exact=True).fill(today.isoformat())
    # Clearing "To" shows the whole history for a moment (oldest first: old[0]);
    # wait for the "From" filter's own first page before scrolling it.
    expect(page).to_have_url(re.compile(rf"\?from={today.isoformat()}&sort=oldest$"))
    expect(page.locator(".card").first).to_have_attribute("data-id", made[3].id)
    expect(page.locator(".card")).to_have_count(30)
    scroll_to_end(page, 37)
    assert ids_on(page) == list(reversed(newest_first[:37]))

    # Newest first again, with everything: paging still meets every image once.
    page.goto(g.url + "/history?sort=starred")
    scroll_to_end(page, 40)
    starred_ids = [
        c.get_attribute("data-id") for c in page.locator('.card[data-starred="true"]').all()
    ]
    assert ids_on(page)[:31] == starred_ids
    assert len(set(ids_on(page))) == 40

    page.goto(g.url + "/history?tag=snow&starred=1&sort=oldest")
    page.set_viewport_size(PHONE)
    expect(page.locator(".card img").first).to_have_js_property("complete", True)
    page.screenshot(path=ARTIFACTS / "history-filters-phone.png")
    page.set_viewport_size(WIDE)
    for image in page.locator(".card img").all()[:4]:
        expect(image).to_have_js_property("complete", True)
    page.screenshot(path=ARTIFACTS / "history-filters-desktop.png")


def test_tags_and_collections_from_the_lightbox(
    gallery: Callable[..., Gallery], page: Page
) -> None:
    g = gallery()
    gen = g.make("a fox at the edge of a wood")
    trips = g.client.collections.create("Trips")
    page.set_viewport_size(PHONE)
    page.goto(g.url + "/history")
    page.locator(".card-image").first.click()
    page.get_by_text("Tags, collections and links").click()

    page.get_by_label("Add tags").fill("Winter,  portrait , winter")
    page.get_by_role("button", name="Add tags").click()
    lightbox_tags = page.locator("#lightbox-tags .tag")
    expect(lightbox_tags).to_have_text(["portrait", "winter"])
    expect(card(page, gen).locator(".card-tags .tag")).to_have_text(["portrait", "winter"])
    expect(page.locator("#lightbox-image")).to_have_js_property("complete", True)
    page.screenshot(path=ARTIFACTS / "lightbox-organise-phone.png")
    assert set(g.client.generations.find(HistoryFilter(tags=("winter",))).items[0].tags) == {
        "portrait",
        "winter",
    }

    page.get_by_role("button", name="Remove tag winter").click()
    expect(lightbox_tags).to_have_text(["portrait"])
    expect(card(page, gen).locator(".card-tags .tag")).to_have_text(["portrait"])
    assert g.client.generations.find(HistoryFilter(tags=("winter",))).items == []

    page.get_by_label("Put in collection").select_option(label="Trips")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#toast")).to_have_text("Added to “Trips”")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#toast")).to_have_text("Already in “Trips”")
    assert g.client.collections.resolve("Trips").images == 1

    page.goto(f"{g.url}/history?collection={trips.id}")
    page.locator(".card-image").first.click()
    page.get_by_text("Tags, collections and links").click()
    page.get_by_role("button", name="Remove from “Trips”").click()
    expect(page.locator(".card")).to_have_count(0)
    expect(page.get_by_text("No images match these filters.")).to_be_visible()
    assert g.client.collections.resolve("Trips").images == 0
    assert [i.id for i in g.client.generations.list().items] == [gen.id]


def test_collections_create_rename_view_delete(gallery: Callable[..., Gallery], page: Page) -> None:
    g = gallery()
    gen = g.make("a lake in autumn")
    page.goto(g.url + "/collections")
    expect(page.get_by_text("No collections yet.")).to_be_visible()
    page.get_by_label("New collection").fill("Lakes")
    page.get_by_role("button", name="Create").click()
    row = page.locator(".collection")
    expect(row.locator(".collection-name")).to_have_text("Lakes")
    lakes = g.client.collections.resolve("Lakes")
    g.client.collections.add(lakes.id, [gen.id])

    page.get_by_label("New name for Lakes").fill("Still water")
    page.get_by_role("button", name="Rename").click()
    expect(row.locator(".collection-name")).to_have_text("Still water")
    expect(row).to_contain_text("1 image")

    row.get_by_role("link", name="Still water").click()
    expect(page.get_by_role("heading", name="Still water")).to_be_visible()
    assert ids_on(page) == [gen.id]
    expect(page.get_by_label("Collection", exact=True)).to_have_value(lakes.id)

    page.goto(g.url + "/collections")
    row.get_by_role("button", name="Delete").click()
    page.locator("#confirm-collection").get_by_role("button", name="Delete collection").click()
    expect(page.get_by_text("No collections yet.")).to_be_visible()
    assert g.client.collections.list() == []
    assert [i.id for i in g.client.generations.list().items] == [gen.id]  # the image stays


# -- sharing -------------------------------------------------------------------------------


def test_a_second_user_sees_what_was_shared_and_nothing_else(
    gallery: Callable[..., Gallery], browser: Browser
) -> None:
    alice, bob = gallery(), gallery()
    shared = alice.make("alice's shared lighthouse")
    private = alice.make("alice's private diary page")
    bob.make("bob's own picture")
    alice.client.sharing.share(bob.user.email, generation_id=shared.id)

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(bob.url + "/shared")
    cards = page.locator(".card")
    expect(cards).to_have_count(1)
    expect(cards.locator("img")).to_have_attribute("alt", "alice's shared lighthouse")
    expect(cards.locator(".shared-by")).to_have_text(f"Shared by {alice.user.email}")
    expect(cards.locator("img")).to_have_js_property("complete", True)
    assert cards.locator("img").evaluate("img => img.naturalWidth") > 0
    # Read-only: no star, delete or tag controls.
    expect(cards.get_by_role("button")).to_have_count(0)
    expect(cards.get_by_role("link", name="Download")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "shared-phone.png")
    page.set_viewport_size(WIDE)
    page.screenshot(path=ARTIFACTS / "shared-desktop.png")

    image = page.request.get(f"{bob.url}/shared/images/{shared.id}")
    assert image.status == 200
    assert image.body() == alice.client.generations.read_image(shared)
    for path in (
        f"/shared/images/{private.id}",
        f"/shared/images/{private.id}/thumb",
        f"/images/{shared.id}",
        f"/images/{private.id}",
    ):
        assert page.request.get(bob.url + path).status == 404, path
    page.goto(bob.url + "/history")
    expect(page.locator(".card img")).to_have_attribute("alt", "bob's own picture")

    alice.client.generations.trash([shared.id])  # trashing ends the share at once
    page.goto(bob.url + "/shared")
    expect(page.get_by_text("Nothing has been shared with you yet.")).to_be_visible()
    assert page.request.get(f"{bob.url}/shared/images/{shared.id}").status == 404
    context.close()


# -- public links ------------------------------------------------------------------------


def test_a_public_link_opens_without_sign_in_until_revoked(
    gallery: Callable[..., Gallery], page: Page, browser: Browser
) -> None:
    g = gallery()
    g.make("not in the link")
    gen = g.make("a kite over the dunes")
    page.goto(g.url + "/history")
    page.locator(".card-image").first.click()
    page.get_by_text("Tags, collections and links").click()
    page.get_by_label("Public link, opens for").select_option("1d")
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#link-url")).to_have_value(LINK)
    url = page.locator("#link-url").input_value()
    assert LINK.fullmatch(url), url
    [link] = g.client.sharing.links()
    assert link.generation_id == gen.id
    assert link.active

    visitor = browser.new_context(viewport=PHONE)  # nothing shared with the gallery's page
    seen = visitor.new_page()
    response = seen.goto(url)
    assert response is not None
    assert response.status == 200
    expect(seen.get_by_role("heading", name="A shared image")).to_be_visible()
    expect(seen.locator(".card img")).to_have_attribute("alt", "a kite over the dunes")
    expect(seen.locator(".card img")).to_have_js_property("complete", True)
    assert seen.locator(".card img").evaluate("img => img.naturalWidth") > 0
    expect(seen.locator(".card")).to_have_count(1)
    expect(seen.get_by_role("navigation", name="Sections")).to_have_count(0)
    expect(seen.get_by_role("button")).to_have_count(0)
    expect(seen.locator('meta[name="csrf-token"]')).to_have_count(0)
    assert "set-cookie" not in response.headers
    seen.screenshot(path=ARTIFACTS / "link-phone.png")
    image_url = seen.locator(".card img").get_attribute("src")
    assert image_url is not None

    page.keyboard.press("Escape")
    page.goto(g.url + "/links")
    row = page.locator(".link-row")
    expect(row.locator(".link-state")).to_have_text("Active")
    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".link-state")).to_have_text("Revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)

    fresh = browser.new_context(viewport=DESKTOP)
    gone = fresh.new_page()
    response = gone.goto(url)
    assert response is not None
    assert response.status == 404
    expect(gone.get_by_role("heading", name="This link no longer opens")).to_be_visible()
    gone.screenshot(path=ARTIFACTS / "link-gone-desktop.png")
    assert gone.request.get(g.url + image_url).status == 404
    assert gone.request.get(g.url + "/l/" + "0" * 64).status == 404
    assert gone.request.get(g.url + "/l/not-a-token").status == 404
    visitor.close()
    fresh.close()


def test_a_collection_link_from_the_collections_page(
    gallery: Callable[..., Gallery], page: Page, browser: Browser
) -> None:
    g = gallery()
    inside = [g.make("dune one"), g.make("dune two")]
    g.make("not a dune")
    dunes = g.client.collections.create("Dunes")
    g.client.collections.add(dunes.id, [gen.id for gen in inside])
    page.goto(g.url + "/collections")
    page.get_by_label("Public link for Dunes opens for").select_option("30d")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Public links")).to_be_visible()
    url = page.get_by_label(re.compile("Your new link opens until")).input_value()
    assert LINK.fullmatch(url), url
    expect(page.locator(".link-row")).to_contain_text("Collection “Dunes”")

    visitor = browser.new_context()
    seen = visitor.new_page()
    seen.goto(url)
    expect(seen.get_by_role("heading", name="Dunes")).to_be_visible()
    expect(seen.locator(".card img")).to_have_count(2)
    assert {c.get_attribute("data-id") for c in seen.locator(".card").all()} == {
        gen.id for gen in inside
    }
    visitor.close()


# -- what the server refuses ------------------------------------------------------------------


def test_organising_requests_need_the_csrf_token(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    gen = g.make("guarded")
    trashed = g.make("guarded in the trash")
    g.client.generations.trash([trashed.id])
    coll = g.client.collections.create("Guarded")
    link = g.client.sharing.create_link(generation_id=gen.id)
    token, cookies = csrf(g.url)
    requests = [
        (f"/generations/{gen.id}/star", {"starred": "1"}),
        (f"/generations/{gen.id}/tags", {"tags": "forged"}),
        (f"/generations/{gen.id}/untag", {"tag": "forged"}),
        (f"/trash/{trashed.id}/restore", {}),
        (f"/trash/{trashed.id}/delete", {"confirmed": "yes"}),
        ("/trash/empty", {"confirmed": "yes"}),
        ("/collections", {"name": "forged"}),
        (f"/collections/{coll.id}/rename", {"name": "forged"}),
        (f"/collections/{coll.id}/delete", {"confirmed": "yes"}),
        (f"/collections/{coll.id}/add", {"generation_id": gen.id}),
        (f"/collections/{coll.id}/remove", {"generation_id": gen.id}),
        ("/links", {"generation_id": gen.id, "expires": "1d"}),
        (f"/links/{link.id}/revoke", {}),
    ]
    for path, form in requests:
        url = g.url + path
        assert httpx.post(url, data=form).status_code == 403, path
        assert httpx.post(url, data=form, cookies=cookies).status_code == 403, path
        wrong = {**form, "csrf_token": "0" * 64}
        assert httpx.post(url, data=wrong, cookies=cookies).status_code == 403, path
        assert httpx.post(url, data={**form, "csrf_token": token}).status_code == 403, path
        cross = httpx.post(
            url,
            data={**form, "csrf_token": token},
            cookies=cookies,
            headers={"origin": "http://evil.test"},
        )
        assert cross.status_code == 403, path
    assert httpx.delete(f"{g.url}/generations/{gen.id}", cookies=cookies).status_code == 403

    # Nothing changed.
    assert not g.client.generations.get(gen.id).starred
    assert g.client.generations.tags() == []
    assert [i.id for i in trash_of(g)] == [trashed.id]
    assert [c.name for c in g.client.collections.list()] == ["Guarded"]
    assert [lk.active for lk in g.client.sharing.links()] == [True]

    # With the token, each works; a script gets JSON, a form a redirect.
    headers = {"x-csrf-token": token, "accept": "application/json"}
    starred = httpx.post(
        f"{g.url}/generations/{gen.id}/star",
        data={"starred": "1"},
        headers=headers,
        cookies=cookies,
    )
    assert starred.json() == {"id": gen.id, "starred": True}
    made = httpx.post(
        g.url + "/links", data={"generation_id": gen.id}, headers=headers, cookies=cookies
    )
    assert made.status_code == 201
    assert LINK.fullmatch(made.json()["url"])
    revoked = httpx.post(f"{g.url}/links/{link.id}/revoke", headers=headers, cookies=cookies)
    assert revoked.json() == {"id": link.id, "revoked": True}
    form = {"csrf_token": token, "tags": "kept", "next": "/history?tag=kept"}
    tagged = httpx.post(f"{g.url}/generations/{gen.id}/tags", data=form, cookies=cookies)
    assert tagged.status_code == 303
    assert tagged.headers["location"] == "/history?tag=kept"
    elsewhere = {"csrf_token": token, "starred": "0", "next": "//evil.test/"}
    unstarred = httpx.post(f"{g.url}/generations/{gen.id}/star", data=elsewhere, cookies=cookies)
    assert unstarred.headers["location"] == "/history"  # never off this server
    confirm = httpx.post(
        g.url + "/trash/empty",
        data={"csrf_token": token},
        cookies=cookies,
        headers={"accept": "text/html"},
    )
    assert confirm.status_code == 200
    assert "Empty the trash?" in confirm.text
    assert [i.id for i in trash_of(g)] == [trashed.id]  # only asked, not done


def test_organising_errors_are_json_for_scripts(gallery: Callable[..., Gallery]) -> None:
    g = gallery()
    other = gallery()
    theirs = other.make("someone else's")
    mine = g.make("mine")
    token, cookies = csrf(g.url)
    headers = {"x-csrf-token": token, "accept": "application/json"}

    def post(path: str, **form: str) -> httpx.Response:
        return httpx.post(g.url + path, data=form, headers=headers, cookies=cookies)

    for path, form, status in (
        (f"/generations/{theirs.id}/star", {"starred": "1"}, 404),
        (f"/generations/{UNKNOWN_ID}/tags", {"tags": "x"}, 404),
        ("/generations/nope/star", {}, 400),
        (f"/generations/{mine.id}/tags", {"tags": " , "}, 400),
        (f"/trash/{mine.id}/delete", {}, 400),  # not in the trash: never deleted for good
        (f"/trash/{theirs.id}/restore", {}, 404),
        (f"/collections/{UNKNOWN_ID}/add", {"generation_id": mine.id}, 404),
        ("/collections", {"name": "  "}, 400),
        ("/links", {"generation_id": mine.id, "expires": "forever"}, 400),
        ("/links", {"generation_id": theirs.id}, 404),
        (f"/links/{UNKNOWN_ID}/revoke", {}, 404),
    ):
        answer = post(path, **form)
        assert answer.status_code == status, (path, answer.text)
        body = answer.json()
        assert set(body) == {"title", "error", "hint"}, path
    assert post("/collections", name="Twice").status_code == 201
    clash = post("/collections", name="twice")
    assert clash.status_code == 409
    assert clash.json()["title"] == "That clashed with another change"
    assert g.client.generations.get(mine.id).trashed_at is None
    assert other.client.generations.get(theirs.id).starred is False

    for query in ("sort=sideways", "from=yesterday", "from=2025-03-02&to=2025-03-01"):
        assert httpx.get(f"{g.url}/history?{query}").status_code == 400, query
        assert httpx.get(f"{g.url}/history/cards?{query}").status_code == 400, query
