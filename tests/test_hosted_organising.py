"""Organising a history on a hosted project: the same library calls as
tests/test_organising.py, through PostgREST and Supabase Storage.

They run against the Supabase double (tests/support/supabase_double.py), whose REST side
calls the real SQL functions in the test database as the token's user, or
against a real project when tests/support/hosted.py finds one configured.
Besides what comes back, the tests check what went over the wire: uuids, times,
intervals, arrays and JSON objects as PostgREST reads them, and a visitor's link
opened with the public key alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
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
    StorageFailed,
)
from genvault._hosted import SupabaseStorage
from genvault._records import Generation
from tests.support.hosted import PROJECT, HostedBackend, json_body
from tests.support.library import ScriptedModel, png_bytes
from tests.support.supabase_double import SupabaseDouble

_names = itertools.count()


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostedBackend]:
    """The project under test; the double needs the migrated test database."""
    database_url = None if PROJECT is not None else request.getfixturevalue("database_url")
    hosted = HostedBackend(tmp_path, database_url)
    yield hosted
    hosted.close()


@pytest.fixture
def double(backend: HostedBackend) -> SupabaseDouble:
    """The double behind ``backend``: tests that use it are skipped on a real project."""
    return backend.double


@dataclass
class Member:
    """A signed-in user of the hosted project and their genvault client."""

    gv: Client
    email: str
    user_id: str
    storage: SupabaseStorage
    """Storage as this user, to look at files directly."""


@pytest.fixture
def sign_up(backend: HostedBackend, tmp_path: Path) -> Iterator[Callable[..., Member]]:
    """Factory: a new account, signed in through a Client of its own profile."""
    clients: list[Client] = []

    def factory(credits: int | None = None) -> Member:
        account = backend.account(credits=credits)
        settings = replace(backend.settings, home=tmp_path / f"member-{next(_names)}")
        gv = Client(settings, http_client=backend.http)
        clients.append(gv)
        session = gv.sign_in(account.email, account.password)
        assert session.access_token is not None
        storage = SupabaseStorage(backend.client(), session.access_token, settings.bucket)
        return Member(gv, account.email, session.user_id, storage)

    yield factory
    for gv in clients:
        gv.close()


@pytest.fixture
def visitor(backend: HostedBackend, tmp_path: Path) -> Iterator[Client]:
    """A client of the project with nobody signed in."""
    with Client(
        replace(backend.settings, home=tmp_path / "visitor"), http_client=backend.http
    ) as gv:
        yield gv


def make_images(gv: Client, prompts: list[str], *, model: str = "test/scripted") -> list[Any]:
    return [
        gv.create(p, model=ScriptedModel(name=model, data=png_bytes((i * 23 % 256, 60, 90))))
        for i, p in enumerate(prompts)
    ]


def files_of(gen: Generation) -> list[str]:
    return [p for p in (gen.image_url, gen.thumbnail_url) if p]


def ids(items: list[Any]) -> list[str]:
    return [g.id for g in items]


def newest(gens: list[Any]) -> list[str]:
    return [g.id for g in sorted(gens, key=lambda g: (g.created_at, g.id), reverse=True)]


def rpc_bodies(backend: HostedBackend, fn: str) -> list[Any]:
    return [json_body(r) for r in backend.sent("POST", f"/rest/v1/rpc/{fn}")]


# -- favourites, the trash and tags --------------------------------------------------


def test_star_trash_restore_and_empty_trash(
    backend: HostedBackend, sign_up: Callable[..., Member]
) -> None:
    me = sign_up(credits=3)
    g = me.gv.generations
    keep, gone, back = make_images(me.gv, ["keep", "gone", "back"])
    assert sorted(g.star([keep.id, gone.id])) == sorted([keep.id, gone.id])
    assert [x.id for x in g.find(HistoryFilter(starred=True)).items] == [gone.id, keep.id]
    assert rpc_bodies(backend, "star_generations")[0] == {
        "generation_ids": [keep.id, gone.id],
        "starred": True,
    }
    assert g.star([keep.id], starred=False) == [keep.id]

    assert sorted(g.trash([gone.id, back.id])) == sorted([gone.id, back.id])
    assert ids(g.list().items) == [keep.id]
    assert sorted(ids(g.find(HistoryFilter(trash=True)).items)) == sorted([gone.id, back.id])
    assert g.restore([back.id]) == [back.id]
    assert g.empty_trash() == 1
    assert not any(me.storage.exists(p) for p in files_of(gone))
    assert all(me.storage.exists(p) for p in files_of(back) + files_of(keep))
    assert g.read_image(back)[:4] == b"RIFF"
    with pytest.raises(NotFound):
        g.get(gone.id)
    assert rpc_bodies(backend, "empty_trash") == [{"max_rows": 1000}] * 2


def test_tags(backend: HostedBackend, sign_up: Callable[..., Member]) -> None:
    me = sign_up(credits=3)
    g = me.gv.generations
    one, two, three = make_images(me.gv, ["one", "two", "three"])
    assert g.tag([one.id, two.id], [" Night ", "SEA", "night"]) == 4
    assert g.tag([three.id], ["night"]) == 1
    assert rpc_bodies(backend, "tag_generations")[0] == {
        "generation_ids": [one.id, two.id],
        "tags": ["night", "sea"],
    }
    assert [(t.tag, t.images) for t in g.tags()] == [("night", 3), ("sea", 2)]
    assert ids(g.find(HistoryFilter(tags=("SEA", "night"))).items) == [two.id, one.id]
    assert g.untag([one.id], ["sea"]) == 1
    [found] = [x for x in g.find().items if x.id == one.id]
    assert found.tags == ("night",)
    sent = len(backend.requests)
    with pytest.raises(InvalidInput, match="a tag is empty") as caught:
        g.tag([one.id], ["ok", " "])
    assert caught.value.hint
    assert len(backend.requests) == sent
    assert g.tag([one.id], [f"t{i:02}" for i in range(19)]) == 19
    with pytest.raises(InvalidInput, match="at most 20 tags") as limit:
        g.tag([one.id], ["twenty-first"])
    assert limit.value.hint


# -- collections ---------------------------------------------------------------------


def test_collections(sign_up: Callable[..., Member]) -> None:
    me, other = sign_up(credits=3), sign_up(credits=1)
    one, two, three = make_images(me.gv, ["one", "two", "three"])
    cats = me.gv.collections.create(" Cats ")
    assert (cats.name, cats.images) == ("Cats", 0)
    me.gv.collections.create("Dogs")
    assert me.gv.collections.resolve("CATS").id == cats.id
    assert me.gv.collections.add("cats", [one.id, two.id, one.id]) == 2
    assert me.gv.collections.add(cats.id, [three.id]) == 1
    assert me.gv.collections.remove("Cats", [three.id]) == 1
    assert [(c.name, c.images) for c in me.gv.collections.list()] == [("Cats", 2), ("Dogs", 0)]
    assert ids(me.gv.generations.find(HistoryFilter(collection_id=cats.id)).items) == [
        two.id,
        one.id,
    ]
    with pytest.raises(Conflict, match='"cats"') as taken:
        me.gv.collections.create("cats")
    assert taken.value.hint
    with pytest.raises(Conflict, match="CATS") as clash:
        me.gv.collections.rename("dogs", "CATS")
    assert clash.value.hint
    assert me.gv.collections.rename("dogs", "Birds").name == "Birds"
    with pytest.raises(NotFound, match="dogs") as missing:
        me.gv.collections.delete("dogs")
    assert missing.value.hint
    assert me.gv.collections.delete("birds")
    assert [c.name for c in me.gv.collections.list()] == ["Cats"]

    assert other.gv.collections.list() == []
    with pytest.raises(NotFound, match="collection") as foreign:
        other.gv.generations.find(HistoryFilter(collection_id=cats.id))
    assert foreign.value.hint


# -- finding and paging --------------------------------------------------------------


def test_find_filters_orders_and_paging(
    backend: HostedBackend, sign_up: Callable[..., Member]
) -> None:
    me = sign_up(credits=7)
    g = me.gv.generations
    made = [
        make_images(me.gv, [f"{'red' if i % 2 else 'blue'} fox {i}"], model=f"test/{i % 3}")[0]
        for i in range(7)
    ]
    g.star([made[1].id, made[4].id])
    g.tag([made[i].id for i in (0, 1, 2, 5)], ["wild"])
    col = me.gv.collections.create("Best")
    me.gv.collections.add("best", [made[i].id for i in (1, 2, 6)])

    def find(**kw: Any) -> list[str]:
        return ids(g.find(HistoryFilter(**kw)).items)

    assert find() == newest(made)
    assert find(sort="oldest") == [x.id for x in made]
    assert find(sort="starred") == newest([made[1], made[4]]) + newest(
        [made[i] for i in (0, 2, 3, 5, 6)]
    )
    assert find(text="RED") == newest([made[i] for i in (1, 3, 5)])
    assert find(model="test/1") == newest([made[1], made[4]])
    assert find(starred=True, tags=("wild",)) == [made[1].id]
    assert find(collection_id=col.id, tags=("wild",)) == newest([made[1], made[2]])
    assert find(created_from=made[2].created_at, created_to=made[5].created_at) == newest(made[2:5])
    [sent] = [b for b in rpc_bodies(backend, "find_generations") if b["created_from"] is not None]
    assert sent["created_from"] == made[2].created_at.isoformat()
    assert sent["collection_id"] is None
    assert sent["with_tags"] is None

    for where in (
        HistoryFilter(),
        HistoryFilter(sort="oldest"),
        HistoryFilter(sort="starred"),
        HistoryFilter(text="fox", sort="starred"),
        HistoryFilter(tags=("wild",), sort="oldest"),
        HistoryFilter(collection_id=col.id, sort="starred"),
    ):
        whole = ids(g.find(where, limit=500).items)
        paged: list[str] = []
        before: str | None = None
        while True:
            page = g.find(where, limit=2, before=before)
            paged += ids(page.items)
            if page.next_cursor is None:
                break
            before = page.next_cursor
        assert paged == whole, where

    newest_cursor = g.find(limit=2).next_cursor
    assert newest_cursor is not None
    with pytest.raises(InvalidInput, match="another order") as caught:
        g.find(HistoryFilter(sort="starred"), before=newest_cursor)
    assert caught.value.hint


# -- sharing -------------------------------------------------------------------------


def test_sharing_and_what_a_recipient_can_read(
    backend: HostedBackend, sign_up: Callable[..., Member]
) -> None:
    owner, recipient = sign_up(credits=2), sign_up()
    shared, private = make_images(owner.gv, ["shared", "private"])
    share = owner.gv.sharing.share(recipient.email.upper(), generation_id=shared.id)
    assert (share.recipient_email, share.generation_id) == (recipient.email, shared.id)
    assert rpc_bodies(backend, "share_with")[0] == {
        "email": recipient.email.upper(),
        "generation_id": shared.id,
        "collection_id": None,
    }
    assert [s.id for s in owner.gv.sharing.shares()] == [share.id]

    [incoming] = recipient.gv.sharing.shared_with_me()
    assert (incoming.shared_by, incoming.images) == (owner.email, 1)
    [item] = recipient.gv.sharing.generations().items
    assert (item.id, item.prompt) == (shared.id, "shared")
    assert recipient.gv.sharing.get(shared.id).id == shared.id
    with pytest.raises(NotFound):
        recipient.gv.sharing.get(private.id)
    # storage_sharing.sql's policy lets the recipient read the shared file, and
    # only while the share lasts; the owner's other files stay unreadable.
    assert recipient.gv.sharing.read_image(item)[:4] == b"RIFF"
    assert owner.gv.generations.read_image(shared)[:4] == b"RIFF"

    assert owner.gv.sharing.unshare(share.id)
    assert not owner.gv.sharing.unshare(share.id)
    assert recipient.gv.sharing.shared_with_me() == []
    with pytest.raises(NotFound, match="shared with you"):
        recipient.gv.sharing.get(shared.id)
    with pytest.raises(StorageFailed, match="share") as refused:
        recipient.gv.sharing.read_image(item)
    assert refused.value.hint

    with pytest.raises(NotFound, match=r"nobody@example\.test") as unknown:
        owner.gv.sharing.share("nobody@example.test", generation_id=shared.id)
    assert unknown.value.hint
    with pytest.raises(InvalidInput, match="yourself") as itself:
        owner.gv.sharing.share(owner.email, generation_id=shared.id)
    assert itself.value.hint


def test_a_shared_collection(sign_up: Callable[..., Member]) -> None:
    owner, recipient = sign_up(credits=3), sign_up()
    one, two, three = make_images(owner.gv, ["one", "two", "three"])
    trip = owner.gv.collections.create("Trip")
    owner.gv.collections.add("trip", [one.id, two.id])
    share = owner.gv.sharing.share(recipient.email, collection_id=trip.id)
    [incoming] = recipient.gv.sharing.shared_with_me()
    assert (incoming.collection_name, incoming.images) == ("Trip", 2)
    page = recipient.gv.sharing.generations(share_id=share.id, limit=1)
    assert ids(page.items) == [two.id]
    assert page.next_cursor is not None
    rest = recipient.gv.sharing.generations(share_id=share.id, limit=1, before=page.next_cursor)
    assert ids(rest.items) == [one.id]
    assert rest.next_cursor is None
    with pytest.raises(NotFound):
        recipient.gv.sharing.get(three.id)


# -- public links --------------------------------------------------------------------


def test_a_public_link_opens_for_a_visitor_with_the_public_key_only(
    backend: HostedBackend, sign_up: Callable[..., Member], visitor: Client
) -> None:
    owner = sign_up(credits=2)
    shown, hidden = make_images(owner.gv, ["shown", "hidden"])
    link = owner.gv.sharing.create_link(generation_id=shown.id, expires_in=timedelta(hours=2))
    assert link.token is not None
    assert len(link.token) == 64
    [sent] = rpc_bodies(backend, "create_public_link")
    assert sent == {
        "generation_id": shown.id,
        "collection_id": None,
        "expires_in": "7200.0 seconds",
    }
    assert abs(link.expires_at - datetime.now(UTC) - timedelta(hours=2)) < timedelta(minutes=1)
    [listed] = owner.gv.sharing.links()
    assert (listed.id, listed.token, listed.active) == (link.id, None, True)

    [item] = visitor.open_link(link.token)
    assert (item.id, item.prompt) == (shown.id, "shown")
    assert item.shared_by == owner.email.split("@")[0]
    assert hidden.id not in ids(visitor.open_link(link.token.upper()))
    [opened, *_] = backend.sent("POST", "/rest/v1/rpc/open_public_link")
    assert opened.headers["apikey"] == backend.settings.supabase_key
    if backend.settings.supabase_key.startswith("sb_publishable_"):
        assert "authorization" not in opened.headers
    assert json_body(opened) == {"token": link.token, "page_size": 1000}
    with pytest.raises(StorageFailed, match="local storage") as caught:
        visitor.read_link_image(item)
    assert caught.value.hint

    sent_before = len(backend.requests)
    with pytest.raises(InvalidInput, match="not a genvault link"):
        visitor.open_link("not-a-token")
    assert len(backend.requests) == sent_before
    with pytest.raises(NotFound):
        visitor.open_link("0" * 64)

    assert owner.gv.sharing.revoke_link(link.id)
    with pytest.raises(NotFound, match="revoked") as revoked:
        visitor.open_link(link.token)
    assert revoked.value.hint
    assert not owner.gv.sharing.links()[0].active


def test_a_collection_link_and_an_expired_link(
    double: SupabaseDouble, admin: Any, sign_up: Callable[..., Member], visitor: Client
) -> None:
    owner = sign_up(credits=2)
    one, two = make_images(owner.gv, ["one", "two"])
    col = owner.gv.collections.create("Public")
    owner.gv.collections.add("public", [one.id, two.id])
    link = owner.gv.sharing.create_link(collection_id=col.id, expires_in=timedelta(minutes=1))
    assert link.token is not None
    assert ids(visitor.open_link(link.token)) == [two.id, one.id]
    admin.execute(
        "update public.public_links set created_at = now() - interval '2 days', "
        "expires_at = now() - interval '1 second' where id = %s",
        (link.id,),
    )
    with pytest.raises(NotFound, match="expired"):
        visitor.open_link(link.token)
    assert not double.violations


def test_the_double_still_refuses_a_users_function_called_as_anon(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    from genvault._hosted import HostedTransport
    from tests.support.supabase_double import ProtocolViolation

    anon = HostedTransport.anonymous(backend.client())
    with pytest.raises(ProtocolViolation, match="anon may not call list_generations"):
        anon.rpc("list_generations", {})
    assert len(double.violations) == 1
    double.violations.clear()
    assert anon.rpc("open_public_link", {"token": "0" * 64}) == []


# -- templates -----------------------------------------------------------------------


def test_templates_and_creating_from_one(
    backend: HostedBackend, sign_up: Callable[..., Member]
) -> None:
    me = sign_up(credits=2)
    fox = me.gv.templates.save(
        "Fox", "a {animal} in {style}", params={"aspect_ratio": "16:9", "seed": 42}
    )
    assert (fox.name, fox.placeholders, fox.params) == (
        "Fox",
        ("animal", "style"),
        {"aspect_ratio": "16:9", "seed": 42},
    )
    assert [t.name for t in me.gv.templates.list()] == ["Fox"]
    model = ScriptedModel()
    made = me.gv.create(template="fox", values={"animal": "owl", "style": "ink"}, model=model)
    assert made.prompt == "a owl in ink"
    assert (made.params["aspect_ratio"], made.params["seed"]) == ("16:9", 42)
    assert rpc_bodies(backend, "render_template")[0] == {
        "name": "fox",
        "vals": {"animal": "owl", "style": "ink"},
    }
    chosen = me.gv.create(
        template="FOX", values={"animal": "cat", "style": "oil"}, model=model, seed=7
    )
    assert (chosen.params["aspect_ratio"], chosen.params["seed"]) == ("16:9", 7)

    refusals: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"prompt": "p", "template": "fox", "values": {}}, InvalidInput, "not both"),
        ({"template": "fox", "values": {"animal": "owl"}}, InvalidInput, "style"),
        (
            {"template": "fox", "values": {"animal": "a", "style": "b", "hue": "c"}},
            InvalidInput,
            "hue",
        ),
        ({"template": "wolf", "values": {}}, NotFound, "wolf"),
    ]
    for kwargs, error, message in refusals:
        with pytest.raises(error, match=message) as caught:
            me.gv.create(model=model, **kwargs)
        assert isinstance(caught.value, GenvaultError)
        assert caught.value.hint
    assert model.calls == 2
    assert me.gv.credits.balance() == 0
    assert me.gv.templates.delete("FOX")
    assert not me.gv.templates.delete("fox")
    assert me.gv.templates.list() == []


# -- the operator's trash purge ------------------------------------------------------


def test_purge_trash_with_the_service_key(
    backend: HostedBackend, double: SupabaseDouble, admin: Any, sign_up: Callable[..., Member]
) -> None:
    me = sign_up(credits=2)
    old, recent = make_images(me.gv, ["old", "recent"])
    me.gv.generations.trash([old.id, recent.id])
    admin.execute(
        "update public.user_generations set trashed_at = now() - interval '40 days' where id = %s",
        (old.id,),
    )
    operator = me.gv.admin()
    result = operator.purge_trash(timedelta(days=30))
    assert result.generations >= 1
    assert result.files >= 2
    # Batches of at most the API's row cap, until one comes back empty.
    calls = backend.sent("POST", "/rest/v1/rpc/admin_purge_trash")
    assert len(calls) >= 2
    for call in calls:
        assert json_body(call) == {"older_than": "2592000.0 seconds", "max_rows": 1000}
        assert call.headers["apikey"] == backend.service_key
    assert not any(me.storage.exists(p) for p in files_of(old))
    assert all(me.storage.exists(p) for p in files_of(recent))
    assert ids(me.gv.generations.find(HistoryFilter(trash=True)).items) == [recent.id]


# -- every refusal is a genvault error with a hint -----------------------------------


def test_every_refusal_over_http_is_a_genvault_error_with_a_hint(
    sign_up: Callable[..., Member], visitor: Client
) -> None:
    me, other = sign_up(credits=1), sign_up()
    [gen] = make_images(me.gv, ["one"])
    me.gv.collections.create("Taken")
    me.gv.collections.create("Other")
    me.gv.templates.save("t", "a {x}")
    foreign = other.gv.collections.create("Theirs")
    calls: list[Callable[[], object]] = [
        lambda: me.gv.generations.tag([gen.id], [f"t{i}" for i in range(21)]),
        lambda: me.gv.generations.find(HistoryFilter(collection_id=foreign.id)),
        lambda: me.gv.generations.find(
            HistoryFilter(created_from=gen.created_at, created_to=gen.created_at)
        ),
        lambda: me.gv.collections.create("TAKEN"),
        lambda: me.gv.collections.rename("other", "taken"),
        lambda: me.gv.collections.add("theirs", [gen.id]),
        lambda: me.gv.sharing.share("nobody@example.test", generation_id=gen.id),
        lambda: me.gv.sharing.share(me.email, generation_id=gen.id),
        lambda: me.gv.sharing.share(other.email, collection_id=foreign.id),
        lambda: me.gv.sharing.create_link(collection_id=foreign.id),
        lambda: me.gv.templates.render("t", {}),
        lambda: me.gv.templates.render("t", {"x": "1", "y": "2"}),
        lambda: me.gv.templates.render("missing", {}),
        lambda: visitor.open_link("f" * 64),
        lambda: visitor.open_link("bad"),
    ]
    for number, call in enumerate(calls):
        with pytest.raises(GenvaultError) as caught:
            call()
        error = caught.value
        assert error.hint, f"call {number}: {type(error).__name__}: {error.message}"
