"""Organising a history through the library, on a direct connection: favourites,
the trash, tags, collections, filtered and sorted pages, sharing, public links,
prompt templates and the operator's trash purge.

Every call goes through :class:`genvault.Client` to the real test database, as a
signed-in user (row level security and the SQL functions decide), with images
in local storage under the test's folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from genvault import (
    Client,
    Conflict,
    GenvaultError,
    HistoryFilter,
    InvalidInput,
    NotFound,
)
from genvault._records import Generation
from tests.support.library import (
    ClientOf,
    ScriptedModel,
    SignIn,
    png_bytes,
    settings_for,
)

# -- helpers -----------------------------------------------------------------------


def make_images(gv: Client, prompts: list[str], *, model: str = "test/scripted") -> list[Any]:
    """One generation per prompt, each with an image of its own (distinct stored files)."""
    return [
        gv.create(p, model=ScriptedModel(name=model, data=png_bytes((i * 23 % 256, 77, 140))))
        for i, p in enumerate(prompts)
    ]


def stored(tmp_path: Path, path: str | None) -> bool:
    """Whether local storage under ``tmp_path`` holds the file at ``path``."""
    assert path is not None
    return (tmp_path / "images" / path).is_file()


def files_of(gen: Generation) -> list[str]:
    return [p for p in (gen.image_url, gen.thumbnail_url) if p]


def all_pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every page of a listing, following the cursors to the end."""
    before: str | None = None
    for _ in range(1000):
        page = fetch(before)
        yield page
        if page.next_cursor is None:
            return
        before = page.next_cursor
    raise AssertionError("the cursors never reached a last page")


def paged_ids(gv: Client, where: HistoryFilter, limit: int) -> list[str]:
    pages = list(all_pages(lambda before: gv.generations.find(where, limit=limit, before=before)))
    assert all(len(p.items) == limit for p in pages[:-1])
    assert 0 < len(pages[-1].items) <= limit or len(pages) == 1
    return [g.id for p in pages for g in p.items]


def tags_of(gv: Client, generation_id: str) -> tuple[str, ...]:
    """The tags of one generation, as a history page shows them."""
    found = (
        gv.generations.find(limit=500).items
        + gv.generations.find(HistoryFilter(trash=True), limit=500).items
    )
    [gen] = [g for g in found if g.id == generation_id]
    return gen.tags


def ids(items: list[Any]) -> list[str]:
    return [g.id for g in items]


@pytest.fixture
def visitor(database_url: str, tmp_path: Path) -> Iterator[Client]:
    """A client with nobody signed in, sharing the test's local storage."""
    with Client(settings_for(database_url, tmp_path)) as client:
        yield client


# -- favourites ----------------------------------------------------------------------


def test_star_and_unstar_report_only_the_callers_ids(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=3), make_user(credits=1)
    with client_of(bob) as b:
        [bobs] = make_images(b, ["bob's"])
    with client_of(alice) as a:
        one, two, _ = make_images(a, ["one", "two", "three"])
        assert sorted(a.generations.star([one.id, two.id, bobs.id])) == sorted([one.id, two.id])
        assert a.generations.get(one.id).starred
        starred = a.generations.find(HistoryFilter(starred=True)).items
        assert sorted(ids(starred)) == sorted([one.id, two.id])
        assert a.generations.star([one.id], starred=False) == [one.id]
        assert not a.generations.get(one.id).starred
        assert ids(a.generations.find(HistoryFilter(starred=True)).items) == [two.id]
        assert a.generations.star([]) == []
    with client_of(bob) as b:
        assert not b.generations.get(bobs.id).starred


# -- the trash -----------------------------------------------------------------------


def test_trash_hides_restore_brings_back_and_empty_trash_removes_files(
    signed_in: SignIn, tmp_path: Path
) -> None:
    with signed_in(credits=4) as (_, gv):
        keep, gone, back, other = make_images(gv, ["keep", "gone", "back", "other"])
        assert sorted(gv.generations.trash([gone.id, back.id])) == sorted([gone.id, back.id])
        assert gv.generations.trash([gone.id]) == []  # already in the trash
        assert ids(gv.generations.list().items) == [other.id, keep.id]
        assert gv.generations.search("gone").items == []
        in_trash = gv.generations.find(HistoryFilter(trash=True)).items
        assert sorted(ids(in_trash)) == sorted([gone.id, back.id])
        assert all(g.trashed_at is not None for g in in_trash)
        assert gv.generations.stats()["total"] == 2

        assert gv.generations.restore([back.id, keep.id]) == [back.id]
        assert gv.generations.get(back.id).trashed_at is None
        assert ids(gv.generations.find(HistoryFilter(trash=True)).items) == [gone.id]

        assert gv.generations.empty_trash() == 1
        assert gv.generations.empty_trash() == 0
        with pytest.raises(NotFound):
            gv.generations.get(gone.id)
        assert not any(stored(tmp_path, p) for p in files_of(gone))
        for gen in (keep, back, other):
            assert all(stored(tmp_path, p) for p in files_of(gen))
        data = gv.generations.read_image(back)
        assert hashlib.sha256(data).hexdigest() == back.image_sha256
        assert sorted(ids(gv.generations.list().items)) == sorted([keep.id, back.id, other.id])


def copy_of(admin: Any, gen: Generation, prompt: str) -> str:
    """Another row of the same user pointing at ``gen``'s stored files (as other
    clients may write them); its id."""
    row = admin.execute(
        "insert into public.user_generations (user_id, prompt, image_url, thumbnail_url) "
        "values (%s, %s, %s, %s) returning id",
        (gen.user_id, prompt, gen.image_url, gen.thumbnail_url),
    ).fetchone()
    return str(row["id"])


def test_empty_trash_keeps_a_file_another_generation_still_uses(
    admin: Any, signed_in: SignIn, tmp_path: Path
) -> None:
    with signed_in(credits=1) as (_, gv):
        [first] = make_images(gv, ["first"])
        copy = copy_of(admin, first, "copy")
        gv.generations.trash([first.id])
        assert gv.generations.empty_trash() == 1
        assert all(stored(tmp_path, p) for p in files_of(first))
        assert gv.generations.read_image(copy) == gv.generations.read_image(copy)
        gv.generations.trash([copy])
        assert gv.generations.empty_trash() == 1
        assert not any(stored(tmp_path, p) for p in files_of(first))


def test_another_users_ids_cannot_be_trashed_or_restored(
    client_of: ClientOf, make_user: Any, tmp_path: Path
) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as a:
        [gen] = make_images(a, ["mine"])
    with client_of(bob) as b:
        assert b.generations.trash([gen.id]) == []
        assert b.generations.empty_trash() == 0
    with client_of(alice) as a:
        a.generations.trash([gen.id])
    with client_of(bob) as b:
        assert b.generations.restore([gen.id]) == []
    with client_of(alice) as a:
        assert a.generations.get(gen.id).trashed_at is not None
        assert a.generations.restore([gen.id]) == [gen.id]
        assert all(stored(tmp_path, p) for p in files_of(gen))


# -- tags ----------------------------------------------------------------------------


def test_tags_are_trimmed_lower_cased_and_counted(signed_in: SignIn) -> None:
    with signed_in(credits=3) as (_, gv):
        one, two, three = make_images(gv, ["one", "two", "three"])
        assert gv.generations.tag([one.id, two.id], [" Night ", "SEA", "night"]) == 4
        assert gv.generations.tag([one.id], ["sea"]) == 0  # already there
        assert gv.generations.tag([three.id], ["Night"]) == 1
        assert tags_of(gv, one.id) == ("night", "sea")
        assert [(t.tag, t.images) for t in gv.generations.tags()] == [("night", 3), ("sea", 2)]
        assert gv.generations.untag([one.id, three.id], ["NIGHT", "absent"]) == 2
        assert tags_of(gv, one.id) == ("sea",)
        assert [(t.tag, t.images) for t in gv.generations.tags()] == [("sea", 2), ("night", 1)]
        # A trashed generation's tags are not counted in the history.
        gv.generations.trash([two.id])
        assert [(t.tag, t.images) for t in gv.generations.tags()] == [("sea", 1)]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["ok", "  "], "a tag is empty"),
        ([], "no tag given"),
        (["x" * 51], "is too long"),
        (["a\x00b"], "NUL"),
        ([f"t{i}" for i in range(21)], "too many tags"),
    ],
)
def test_bad_tags_are_refused_before_anything_is_sent(
    signed_in: SignIn, tags: list[str], message: str
) -> None:
    with signed_in(credits=1) as (_, gv):
        [gen] = make_images(gv, ["tagged"])
        for call in (gv.generations.tag, gv.generations.untag):
            with pytest.raises(InvalidInput, match=message) as caught:
                call([gen.id], tags)
            assert caught.value.hint
        assert tags_of(gv, gen.id) == ()


def test_a_generation_holds_at_most_twenty_tags(signed_in: SignIn) -> None:
    with signed_in(credits=1) as (_, gv):
        [gen] = make_images(gv, ["crowded"])
        assert gv.generations.tag([gen.id], [f"t{i:02}" for i in range(20)]) == 20
        assert gv.generations.tag([gen.id], ["t00"]) == 0  # a tag it has is no 21st
        with pytest.raises(InvalidInput, match="at most 20 tags") as caught:
            gv.generations.tag([gen.id], ["one-more"])
        assert caught.value.hint
        assert len(tags_of(gv, gen.id)) == 20


def test_tags_of_another_user_are_untouched(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as a:
        [gen] = make_images(a, ["alice's"])
        a.generations.tag([gen.id], ["private"])
    with client_of(bob) as b:
        assert b.generations.tag([gen.id], ["mine-now"]) == 0
        assert b.generations.untag([gen.id], ["private"]) == 0
        assert b.generations.tags() == []
    with client_of(alice) as a:
        assert tags_of(a, gen.id) == ("private",)


# -- collections ---------------------------------------------------------------------


def test_collections_resolve_by_name_in_any_case_or_by_id(signed_in: SignIn) -> None:
    with signed_in(credits=3) as (_, gv):
        one, two, three = make_images(gv, ["one", "two", "three"])
        holiday = gv.collections.create("  Holiday 2024 ")
        assert holiday.name == "Holiday 2024"
        assert holiday.images == 0
        work = gv.collections.create("work")
        assert gv.collections.resolve("HOLIDAY 2024").id == holiday.id
        assert gv.collections.resolve(holiday.id.upper()).id == holiday.id
        assert gv.collections.add("holiday 2024", [one.id, two.id, one.id]) == 2
        assert gv.collections.add(holiday.id, [two.id, three.id]) == 1
        assert gv.collections.add("Work", [three.id]) == 1
        assert [(c.name, c.images) for c in gv.collections.list()] == [
            ("Holiday 2024", 3),
            ("work", 1),
        ]
        assert gv.collections.remove("holiday 2024", [three.id, three.id]) == 1
        assert gv.collections.remove("holiday 2024", [three.id]) == 0
        page = gv.generations.find(HistoryFilter(collection_id=holiday.id))
        assert ids(page.items) == [two.id, one.id]

        renamed = gv.collections.rename("holiday 2024", "Summer")
        assert (renamed.id, renamed.name, renamed.images) == (holiday.id, "Summer", 2)
        assert gv.collections.rename("summer", "SUMMER").name == "SUMMER"  # only the case
        assert gv.collections.delete("Work")
        assert [c.name for c in gv.collections.list()] == ["SUMMER"]
        # The images of a deleted collection stay in the history.
        assert gv.generations.get(three.id).id == three.id
        assert work.id not in [c.id for c in gv.collections.list()]


def test_collection_name_conflicts_and_unknown_collections(signed_in: SignIn) -> None:
    with signed_in(credits=1) as (_, gv):
        [gen] = make_images(gv, ["one"])
        gv.collections.create("Cats")
        gv.collections.create("Dogs")
        with pytest.raises(Conflict, match='"cats"') as caught:
            gv.collections.create("cats")
        assert caught.value.hint
        with pytest.raises(Conflict, match="CATS") as caught:
            gv.collections.rename("dogs", "CATS")
        assert caught.value.hint
        assert sorted(c.name for c in gv.collections.list()) == ["Cats", "Dogs"]
        for call in (
            lambda: gv.collections.resolve("birds"),
            lambda: gv.collections.rename("birds", "Fish"),
            lambda: gv.collections.delete("birds"),
            lambda: gv.collections.add("birds", [gen.id]),
            lambda: gv.collections.remove("birds", [gen.id]),
        ):
            with pytest.raises(NotFound, match="birds") as missing:
                call()
            assert missing.value.hint
        for bad in ("", "   ", "x" * 101):
            with pytest.raises(InvalidInput):
                gv.collections.create(bad)
        with pytest.raises(InvalidInput):
            gv.collections.rename("Cats", " ")


def test_another_users_collection_is_not_found(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=1), make_user(credits=1)
    with client_of(alice) as a:
        [gen] = make_images(a, ["alice's"])
        mine = a.collections.create("Mine")
        a.collections.add("Mine", [gen.id])
    with client_of(bob) as b:
        [bobs] = make_images(b, ["bob's"])
        assert b.collections.list() == []
        with pytest.raises(NotFound):
            b.collections.resolve(mine.id)
        with pytest.raises(NotFound, match="collection"):
            b.generations.find(HistoryFilter(collection_id=mine.id))
        theirs = b.collections.create("Mine")  # the same name is fine for someone else
        assert b.collections.add("mine", [gen.id, bobs.id]) == 1
        assert ids(b.generations.find(HistoryFilter(collection_id=theirs.id)).items) == [bobs.id]
    with client_of(alice) as a:
        assert [(c.name, c.images) for c in a.collections.list()] == [("Mine", 1)]


# -- finding: every filter and every order ---------------------------------------------


@pytest.fixture
def library(signed_in: SignIn) -> Iterator[tuple[Client, list[Any]]]:
    """A user with nine generations from two models, some starred, tagged and collected."""
    with signed_in(credits=9) as (_, gv):
        prompts = [f"{'red' if i % 2 else 'blue'} fox number {i}" for i in range(9)]
        made = [
            make_images(gv, [p], model="test/a" if i < 5 else "test/b")[0]
            for i, p in enumerate(prompts)
        ]
        gv.generations.star([made[i].id for i in (1, 4, 6)])
        gv.generations.tag([made[i].id for i in (0, 1, 2, 3)], ["wild"])
        gv.generations.tag([made[i].id for i in (2, 3, 7)], ["snow"])
        gv.collections.create("Best")
        gv.collections.add("best", [made[i].id for i in (1, 3, 5, 8)])
        yield gv, [gv.generations.get(g.id) for g in made]


def newest(gens: list[Any]) -> list[str]:
    return [g.id for g in sorted(gens, key=lambda g: (g.created_at, g.id), reverse=True)]


def test_find_filters(library: tuple[Client, list[Any]]) -> None:
    gv, made = library

    def find(**kw: Any) -> list[str]:
        return ids(gv.generations.find(HistoryFilter(**kw)).items)

    assert find() == newest(made) == ids(gv.generations.list().items)
    assert find(text="RED FOX") == newest([made[i] for i in (1, 3, 5, 7)])
    assert find(text="number 1") == [made[1].id]
    assert find(model="test/b") == newest(made[5:])
    assert find(starred=True) == newest([made[i] for i in (1, 4, 6)])
    assert find(tags=("wild",)) == newest(made[:4])
    assert find(tags=("WILD", " snow ")) == newest([made[2], made[3]])
    best = gv.collections.resolve("Best").id
    assert find(collection_id=best) == newest([made[i] for i in (1, 3, 5, 8)])
    assert find(collection_id=best, tags=("wild",)) == newest([made[1], made[3]])
    assert find(created_from=made[2].created_at) == newest(made[2:])
    assert find(created_to=made[2].created_at) == newest(made[:2])
    assert find(created_from=made[2].created_at, created_to=made[6].created_at) == newest(made[2:6])
    assert find(text="red", model="test/a", starred=True, tags=("wild",), collection_id=best) == [
        made[1].id
    ]
    assert find(text="nothing like this") == []
    assert find(tags=("no-such-tag",)) == []
    assert find(trash=True) == []
    gv.generations.trash([made[3].id, made[4].id])
    assert find(trash=True) == newest([made[3], made[4]])
    assert find(trash=True, starred=True) == [made[4].id]
    assert made[3].id not in find(tags=("wild",))
    assert made[3].id not in find(collection_id=best)


def test_find_orders(library: tuple[Client, list[Any]]) -> None:
    gv, made = library

    def find(**kw: Any) -> list[Generation]:
        return gv.generations.find(HistoryFilter(**kw)).items

    assert ids(find(sort="newest")) == newest(made)
    assert ids(find(sort="oldest")) == list(reversed(newest(made)))
    starred_first = find(sort="starred")
    assert ids(starred_first) == newest([made[i] for i in (1, 4, 6)]) + newest(
        [made[i] for i in (0, 2, 3, 5, 7, 8)]
    )
    assert [g.starred for g in starred_first] == [True] * 3 + [False] * 6
    assert ids(find(sort="oldest", model="test/b")) == [g.id for g in made[5:]]
    with pytest.raises(InvalidInput, match="order") as caught:
        gv.generations.find(HistoryFilter(sort="random"))
    assert caught.value.hint


FILTERS = [
    HistoryFilter(),
    HistoryFilter(sort="oldest"),
    HistoryFilter(sort="starred"),
    HistoryFilter(text="fox"),
    HistoryFilter(text="red", sort="oldest"),
    HistoryFilter(text="fox", sort="starred"),
    HistoryFilter(model="test/a", sort="starred"),
    HistoryFilter(tags=("wild",)),
    HistoryFilter(tags=("wild",), sort="starred"),
    HistoryFilter(starred=True, sort="oldest"),
]


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_paging_through_every_order_matches_one_big_page(
    library: tuple[Client, list[Any]], limit: int
) -> None:
    gv, _ = library
    best = gv.collections.resolve("best").id
    for where in [*FILTERS, HistoryFilter(collection_id=best, sort="starred")]:
        whole = gv.generations.find(where, limit=500)
        assert whole.next_cursor is None
        paged = paged_ids(gv, where, limit)
        assert paged == ids(whole.items), where
        assert len(set(paged)) == len(paged), where


def test_paging_the_trash(library: tuple[Client, list[Any]]) -> None:
    gv, made = library
    gv.generations.trash([g.id for g in made[:7]])
    where = HistoryFilter(trash=True, sort="starred")
    assert paged_ids(gv, where, 2) == ids(gv.generations.find(where, limit=500).items)
    assert len(paged_ids(gv, HistoryFilter(trash=True), 3)) == 7


def test_a_cursor_belongs_to_its_order(library: tuple[Client, list[Any]]) -> None:
    gv, _ = library
    newest_cursor = gv.generations.find(HistoryFilter(), limit=2).next_cursor
    starred_cursor = gv.generations.find(HistoryFilter(sort="starred"), limit=2).next_cursor
    assert newest_cursor
    assert starred_cursor
    with pytest.raises(InvalidInput, match="another order") as caught:
        gv.generations.find(HistoryFilter(sort="starred"), before=newest_cursor)
    assert caught.value.hint
    with pytest.raises(InvalidInput, match="another order"):
        gv.generations.find(HistoryFilter(), before=starred_cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        gv.generations.find(HistoryFilter(), before="not-a-cursor")


def test_find_refuses_bad_filters(library: tuple[Client, list[Any]]) -> None:
    gv, made = library
    refused: list[HistoryFilter] = [
        HistoryFilter(text="   "),
        HistoryFilter(text="x" * 2001),
        HistoryFilter(collection_id="not-an-id"),
        HistoryFilter(created_from=made[3].created_at, created_to=made[1].created_at),
        HistoryFilter(tags=tuple(f"t{i}" for i in range(21))),
        HistoryFilter(tags=("",)),
    ]
    for where in refused:
        with pytest.raises(InvalidInput) as caught:
            gv.generations.find(where)
        assert caught.value.hint, where
    for limit in (0, 1001):
        with pytest.raises(InvalidInput):
            gv.generations.find(limit=limit)


# -- sharing with another user -------------------------------------------------------


def test_a_shared_generation_can_be_seen_and_read_until_unshared(
    client_of: ClientOf, make_user: Any
) -> None:
    alice, bob, carol = make_user(credits=2), make_user(), make_user()
    with client_of(alice) as a:
        shared, private = make_images(a, ["shared fox", "private fox"])
        share = a.sharing.share(bob.email.upper(), generation_id=shared.id)
        assert (share.recipient_email, share.generation_id) == (bob.email, shared.id)
        again = a.sharing.share(bob.email, generation_id=shared.id)
        assert again.id == share.id  # sharing twice is one share
        [listed] = a.sharing.shares()
        assert (listed.id, listed.recipient_email) == (share.id, bob.email)
        original = a.generations.read_image(shared)
    with client_of(bob) as b:
        [incoming] = b.sharing.shared_with_me()
        assert (incoming.id, incoming.shared_by, incoming.images) == (share.id, alice.email, 1)
        [item] = b.sharing.generations().items
        assert (item.id, item.prompt, item.shared_by) == (shared.id, "shared fox", alice.email)
        assert b.sharing.get(shared.id).id == shared.id
        assert b.sharing.read_image(item) == original
        assert b.sharing.read_image(item, thumbnail=True)[:4] == b"RIFF"
        with pytest.raises(NotFound):
            b.sharing.get(private.id)
        with pytest.raises(NotFound):
            b.generations.get(shared.id)  # shared is read-only, not in bob's history
        assert b.generations.trash([shared.id]) == []
    with client_of(carol) as c:
        assert c.sharing.shared_with_me() == []
        with pytest.raises(NotFound):
            c.sharing.get(shared.id)
    with client_of(alice) as a:
        assert a.sharing.unshare(share.id)
        assert not a.sharing.unshare(share.id)
        assert a.sharing.shares() == []
    with client_of(bob) as b:
        assert b.sharing.shared_with_me() == []
        assert b.sharing.generations().items == []
        with pytest.raises(NotFound, match="shared with you") as caught:
            b.sharing.get(shared.id)
        assert caught.value.hint


def test_a_shared_collection_shows_its_images_and_follows_changes(
    client_of: ClientOf, make_user: Any
) -> None:
    alice, bob = make_user(credits=4), make_user()
    with client_of(alice) as a:
        one, two, three, _ = make_images(a, ["one", "two", "three", "four"])
        trip = a.collections.create("Trip")
        a.collections.add("trip", [one.id, two.id])
        share = a.sharing.share(bob.email, collection_id=trip.id)
        assert share.collection_id == trip.id
    with client_of(bob) as b:
        [incoming] = b.sharing.shared_with_me()
        assert (incoming.collection_name, incoming.images) == ("Trip", 2)
        assert ids(b.sharing.generations(share_id=share.id).items) == [two.id, one.id]
    with client_of(alice) as a:
        a.collections.add("trip", [three.id])
        a.generations.trash([one.id])
    with client_of(bob) as b:
        pages = list(all_pages(lambda before: b.sharing.generations(limit=1, before=before)))
        assert [i.id for p in pages for i in p.items] == [three.id, two.id]
        with pytest.raises(NotFound):
            b.sharing.get(one.id)
    with client_of(alice) as a:
        assert a.collections.delete("trip")
        assert a.sharing.shares() == []
    with client_of(bob) as b:
        assert b.sharing.generations().items == []


def test_sharing_refusals(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as a:
        [gen] = make_images(a, ["mine"])
        col = a.collections.create("Col")
        with pytest.raises(NotFound, match=r"nobody@example\.test") as unknown:
            a.sharing.share("nobody@example.test", generation_id=gen.id)
        assert unknown.value.hint
        with pytest.raises(InvalidInput, match="yourself") as self_share:
            a.sharing.share(alice.email, generation_id=gen.id)
        assert self_share.value.hint
        with pytest.raises(InvalidInput, match="email"):
            a.sharing.share("not an address", generation_id=gen.id)
        with pytest.raises(InvalidInput, match="either"):
            a.sharing.share(bob.email, generation_id=gen.id, collection_id=col.id)
        with pytest.raises(InvalidInput, match="either"):
            a.sharing.share(bob.email)
        with pytest.raises(InvalidInput, match="share id"):
            a.sharing.unshare("42")
        a.generations.trash([gen.id])
        with pytest.raises(NotFound):
            a.sharing.share(bob.email, generation_id=gen.id)
    with client_of(bob) as b:
        with pytest.raises(NotFound):
            b.sharing.share(alice.email, generation_id=gen.id)
        with pytest.raises(NotFound):
            b.sharing.share(alice.email, collection_id=col.id)


# -- public links --------------------------------------------------------------------


def test_a_public_link_shows_its_image_to_a_visitor_until_revoked(
    client_of: ClientOf, make_user: Any, visitor: Client
) -> None:
    alice = make_user(credits=2)
    with client_of(alice) as a:
        shown, hidden = make_images(a, ["shown", "hidden"])
        link = a.sharing.create_link(generation_id=shown.id, expires_in=timedelta(hours=2))
        assert link.token is not None
        assert len(link.token) == 64
        assert link.active
        assert link.generation_id == shown.id
        [listed] = a.sharing.links()
        assert listed.id == link.id
        assert listed.token is None  # shown once, never kept
        assert listed.active
        assert listed.expires_at == link.expires_at
        original = a.generations.read_image(shown)

    [item] = visitor.open_link(link.token)
    assert (item.id, item.prompt) == (shown.id, "shown")
    assert item.shared_by == alice.email.split("@")[0]
    assert item.expires_at == link.expires_at
    assert visitor.read_link_image(item) == original
    assert visitor.read_link_image(item, thumbnail=True)[:4] == b"RIFF"
    # The whole link, or the token in capitals, open it too.
    assert ids(visitor.open_link(f"http://127.0.0.1:8765/l/{link.token.upper()}")) == [shown.id]
    assert hidden.id not in ids(visitor.open_link(link.token))

    with client_of(alice) as a:
        assert a.sharing.revoke_link(link.id)
        assert not a.sharing.revoke_link(link.id)
        [listed] = a.sharing.links()
        assert not listed.active
        assert listed.revoked_at is not None
    with pytest.raises(NotFound, match="revoked") as caught:
        visitor.open_link(link.token)
    assert caught.value.hint


def test_a_collection_link_shows_the_collection_as_it_is_now(
    client_of: ClientOf, make_user: Any, visitor: Client
) -> None:
    alice = make_user(credits=3)
    with client_of(alice) as a:
        one, two, three = make_images(a, ["one", "two", "three"])
        col = a.collections.create("Public")
        a.collections.add("public", [one.id, two.id])
        link = a.sharing.create_link(collection_id=col.id)
        assert link.token is not None
        assert link.collection_id == col.id
    shown = visitor.open_link(link.token)
    assert ids(shown) == [two.id, one.id]
    assert {i.collection_name for i in shown} == {"Public"}
    with client_of(alice) as a:
        a.collections.add("public", [three.id])
        a.generations.trash([one.id])
    assert ids(visitor.open_link(link.token)) == [three.id, two.id]


def test_an_expired_or_unknown_link_does_not_open(
    admin: Any, signed_in: SignIn, visitor: Client
) -> None:
    with signed_in(credits=1) as (_, a):
        [gen] = make_images(a, ["soon gone"])
        link = a.sharing.create_link(generation_id=gen.id, expires_in=timedelta(minutes=1))
        assert link.token is not None
        assert len(visitor.open_link(link.token)) == 1
        admin.execute(
            "update public.public_links set created_at = now() - interval '2 days', "
            "expires_at = now() - interval '1 second' where id = %s",
            (link.id,),
        )
        [listed] = a.sharing.links()
        assert not listed.active
        assert listed.revoked_at is None
    for token in (link.token, "0" * 64):
        with pytest.raises(NotFound, match="does not open"):
            visitor.open_link(token)


def test_link_refusals(client_of: ClientOf, make_user: Any, visitor: Client) -> None:
    alice, bob = make_user(credits=1), make_user()
    for malformed in ("", "abc", "g" * 64, "0" * 63, "0" * 65, "' or 1=1 --"):
        with pytest.raises(InvalidInput, match="not a genvault link") as caught:
            visitor.open_link(malformed)
        assert caught.value.hint
    with client_of(alice) as a:
        [gen] = make_images(a, ["mine"])
        for expires in (timedelta(seconds=30), timedelta(days=367), timedelta(0)):
            with pytest.raises(InvalidInput, match="expire"):
                a.sharing.create_link(generation_id=gen.id, expires_in=expires)
        with pytest.raises(InvalidInput, match="either"):
            a.sharing.create_link()
        with pytest.raises(InvalidInput, match="link id"):
            a.sharing.revoke_link("nope")
        link = a.sharing.create_link(generation_id=gen.id)
    with client_of(bob) as b:
        with pytest.raises(NotFound):
            b.sharing.create_link(generation_id=gen.id)
        assert not b.sharing.revoke_link(link.id)
        assert b.sharing.links() == []
    assert link.token is not None
    assert len(visitor.open_link(link.token)) == 1


# -- prompt templates ----------------------------------------------------------------


def test_templates_save_list_replace_and_delete(signed_in: SignIn) -> None:
    with signed_in() as (_, gv):
        fox = gv.templates.save(
            " Fox ", "a {animal} in {style}, {style}", params={"aspect_ratio": "16:9"}
        )
        assert (fox.name, fox.placeholders) == ("Fox", ("animal", "style"))
        assert fox.params == {"aspect_ratio": "16:9"}
        gv.templates.save("plain", "no placeholders {here or {1x}", model="test/scripted")
        assert [(t.name, t.placeholders) for t in gv.templates.list()] == [
            ("Fox", ("animal", "style")),
            ("plain", ()),
        ]
        replaced = gv.templates.save("FOX", "just a {animal}")
        assert replaced.id == fox.id
        assert replaced.placeholders == ("animal",)
        assert replaced.params == {}
        assert [t.name for t in gv.templates.list()] == ["FOX", "plain"]
        rendered = gv.templates.render("fox", {"animal": "{style}"})
        assert rendered.prompt == "just a {style}"  # a value is never filled in again
        assert gv.templates.delete("fOx")
        assert not gv.templates.delete("fox")
        assert [t.name for t in gv.templates.list()] == ["plain"]
        for name, prompt in (("", "x"), ("x" * 101, "x"), ("ok", "  "), ("ok", "y" * 2001)):
            with pytest.raises(InvalidInput):
                gv.templates.save(name, prompt)


def test_create_from_a_template(signed_in: SignIn) -> None:
    with signed_in(credits=3) as (_, gv):
        gv.templates.save(
            "fox", "a {animal} in {style}", params={"aspect_ratio": "16:9", "seed": 42}
        )
        model = ScriptedModel()
        made = gv.create(template="FOX", values={"animal": "owl", "style": "ink"}, model=model)
        assert made.prompt == "a owl in ink"
        assert (made.params["aspect_ratio"], made.params["seed"]) == ("16:9", 42)
        chosen = gv.create(
            template="fox",
            values={"animal": "cat", "style": "oil"},
            model=model,
            aspect_ratio="1:1",
            seed=7,
        )
        assert chosen.prompt == "a cat in oil"
        assert (chosen.params["aspect_ratio"], chosen.params["seed"]) == ("1:1", 7)
        assert ids(gv.generations.find(HistoryFilter(text="owl")).items) == [made.id]
        assert model.calls == 2
        assert gv.credits.balance() == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"prompt": "a fox", "template": "fox", "values": {"animal": "x"}},
            InvalidInput,
            "not both",
        ),
        ({"prompt": "a fox", "values": {"animal": "x"}}, InvalidInput, "template"),
        ({"template": "fox", "values": {"animal": "owl"}}, InvalidInput, "style"),
        ({"template": "fox", "values": {}}, InvalidInput, "animal, style"),
        (
            {"template": "fox", "values": {"animal": "a", "style": "b", "colour": "c"}},
            InvalidInput,
            "colour",
        ),
        ({"template": "wolf", "values": {}}, NotFound, "wolf"),
    ],
)
def test_template_refusals_spend_nothing(
    signed_in: SignIn, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with signed_in(credits=1) as (_, gv):
        gv.templates.save("fox", "a {animal} in {style}")
        model = ScriptedModel()
        with pytest.raises(error, match=message) as caught:
            gv.create(model=model, **kwargs)
        assert isinstance(caught.value, GenvaultError)
        assert caught.value.hint
        assert model.calls == 0
        assert gv.credits.balance() == 1
        assert gv.generations.list().items == []


def test_templates_are_private(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(), make_user()
    with client_of(alice) as a:
        a.templates.save("secret", "alice's {thing}")
    with client_of(bob) as b:
        assert b.templates.list() == []
        assert not b.templates.delete("secret")
        with pytest.raises(NotFound):
            b.templates.render("secret", {"thing": "x"})
    with client_of(alice) as a:
        assert [t.name for t in a.templates.list()] == ["secret"]


# -- the operator's trash purge ------------------------------------------------------


def test_purge_trash_removes_only_what_has_been_trashed_long_enough(
    admin: Any, client_of: ClientOf, make_user: Any, tmp_path: Path, visitor: Client
) -> None:
    user = make_user(credits=3)
    with client_of(user) as gv:
        old, recent, kept = make_images(gv, ["old", "recent", "kept"])
        twin = copy_of(admin, old, "twin of old")
        gv.generations.trash([old.id, recent.id])

    def backdate(*gen_ids: str) -> None:
        admin.execute(
            "update public.user_generations set trashed_at = now() - interval '40 days' "
            "where id = any (%s::uuid[])",
            (list(gen_ids),),
        )

    def exists(gen_id: str) -> bool:
        row = admin.execute(
            "select count(*) as n from public.user_generations where id = %s", (gen_id,)
        ).fetchone()
        return bool(row["n"])

    backdate(old.id)
    operator = visitor.admin()
    with pytest.raises(InvalidInput) as caught:
        operator.purge_trash(timedelta(days=-1))
    assert caught.value.hint

    result = operator.purge_trash(timedelta(days=30))
    assert result.generations >= 1
    assert not result.dry_run
    assert not exists(old.id)
    assert exists(recent.id)
    assert exists(kept.id)
    assert exists(twin)
    # The old row's files are still the twin's.
    assert all(stored(tmp_path, p) for p in files_of(old) + files_of(recent))

    with client_of(user) as gv:
        gv.generations.trash([twin])
    backdate(recent.id, twin)
    again = operator.purge_trash(timedelta(days=30))
    assert again.generations >= 2
    assert again.files >= 4
    assert not exists(recent.id)
    assert not exists(twin)
    assert not any(stored(tmp_path, p) for p in files_of(old) + files_of(recent))
    assert all(stored(tmp_path, p) for p in files_of(kept))
    with client_of(user) as gv:
        assert ids(gv.generations.list().items) == [kept.id]


def test_purge_trash_is_for_operators_only(signed_in: SignIn, tmp_path: Path) -> None:
    from genvault import PermissionDenied
    from genvault._admin import AdminRepo
    from genvault._storage import LocalStorage

    with signed_in() as (_, gv):
        transport, _, _ = gv._user()
        as_user = AdminRepo(transport, LocalStorage(tmp_path / "images"))
        with pytest.raises(PermissionDenied) as caught:
            as_user.purge_trash()
        assert caught.value.hint


# -- every refusal is a genvault error with a hint -----------------------------------


def test_every_refusal_is_a_genvault_error_with_a_hint(
    client_of: ClientOf, make_user: Any, visitor: Client
) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as gv:
        [gen] = make_images(gv, ["one"])
        gv.collections.create("Taken")
        gv.collections.create("Other")
        gv.templates.save("t", "a {x}")
        calls: list[Callable[[], object]] = [
            lambda: gv.generations.star(["nope"]),
            lambda: gv.generations.trash(["nope"]),
            lambda: gv.generations.restore([gen.id] * 1001),
            lambda: gv.generations.tag([gen.id], [""]),
            lambda: gv.generations.untag([gen.id], []),
            lambda: gv.generations.find(HistoryFilter(sort="sideways")),
            lambda: gv.generations.find(HistoryFilter(text="")),
            lambda: gv.generations.find(
                HistoryFilter(created_from=gen.created_at, created_to=gen.created_at)
            ),
            lambda: gv.generations.find(HistoryFilter(collection_id=str(gen.id))),
            lambda: gv.generations.find(before="garbage"),
            lambda: gv.collections.create("taken"),
            lambda: gv.collections.create(""),
            lambda: gv.collections.rename("other", "TAKEN"),
            lambda: gv.collections.rename("missing", "x"),
            lambda: gv.collections.delete(" "),
            lambda: gv.collections.add("taken", ["bad-id"]),
            lambda: gv.sharing.share("nobody@example.test", generation_id=gen.id),
            lambda: gv.sharing.share(alice.email, generation_id=gen.id),
            lambda: gv.sharing.share("no-at-sign", generation_id=gen.id),
            lambda: gv.sharing.share(bob.email),
            lambda: gv.sharing.unshare("x"),
            lambda: gv.sharing.get(str(gen.id)),
            lambda: gv.sharing.generations(limit=0),
            lambda: gv.sharing.create_link(generation_id=gen.id, expires_in=timedelta(0)),
            lambda: gv.sharing.revoke_link(""),
            lambda: gv.templates.save("", "x"),
            lambda: gv.templates.save("t", ""),
            lambda: gv.templates.render("t", {}),
            lambda: gv.templates.render("t", {"x": "1", "y": "2"}),
            lambda: gv.templates.render("nope", {}),
            lambda: gv.create("a prompt", template="t", values={"x": "1"}),
            lambda: gv.create(values={"x": "1"}),
            lambda: visitor.open_link("short"),
            lambda: visitor.open_link("f" * 64),
            lambda: visitor.admin().purge_trash(timedelta(seconds=-1)),
        ]
        for number, call in enumerate(calls):
            with pytest.raises(GenvaultError) as caught:
                call()
            error = caught.value
            assert error.hint, f"call {number}: {type(error).__name__}: {error.message}"
            assert error.message, f"call {number}"
