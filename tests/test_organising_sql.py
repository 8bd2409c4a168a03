"""organising.sql, function by function: favourites, collections, tags, the trash,
sharing, public links, prompt templates and find_generations' filters and paging.

Every call is made the way PostgREST makes it (``acting_as`` with a user's claims,
or as ``anon`` / ``service_role``), against the session's real database. Rows are
set up with the owner connection where a test needs times it cannot wait for (a
creation date, a link that expired, a row trashed a month ago).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.database import acting_as
from tests.support.users import User, create_user, user_claims

Conn = psycopg.Connection[Any]
BASE = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def run(conn: Conn, user: User | str, query: str, params: Any = None) -> list[dict[str, Any]]:
    """``query`` in one committed request as ``user`` (or as the role named)."""
    role, claims = (
        (user, {"role": user}) if isinstance(user, str) else ("authenticated", user_claims(user))
    )
    with acting_as(conn, role, claims):
        cur = conn.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


def one(conn: Conn, user: User | str, query: str, params: Any = None) -> Any:
    """The single value ``query`` returns as ``user``."""
    rows = run(conn, user, query, params)
    assert len(rows) == 1, rows
    return next(iter(rows[0].values()))


def refused(conn: Conn, user: User | str, query: str, params: Any = None) -> psycopg.Error:
    """The error ``query`` raises as ``user`` (nothing of it is kept)."""
    with pytest.raises(psycopg.Error) as caught:
        run(conn, user, query, params)
    return caught.value


def add_generation(
    admin: Conn,
    user: User,
    prompt: str = "a prompt",
    *,
    at: datetime | None = None,
    model: str | None = "test/model",
    thumbnail: bool = False,
    image: str | None = None,
) -> str:
    """A generation of ``user`` stored directly, at ``at`` (now by default)."""
    gen_id = str(uuid.uuid4())
    admin.execute(
        "insert into public.user_generations"
        " (id, user_id, prompt, image_url, thumbnail_url, model, created_at)"
        " values (%s, %s, %s, %s, %s, %s, coalesce(%s, now()))",
        (
            gen_id,
            user.id,
            prompt,
            image or f"{user.id}/{gen_id}.webp",
            f"{user.id}/{gen_id}.thumb.webp" if thumbnail else None,
            model,
            at,
        ),
    )
    return gen_id


def ids(rows: list[dict[str, Any]], key: str = "id") -> list[str]:
    return [str(r[key]) for r in rows]


def find(admin: Conn, user: User, **args: Any) -> list[dict[str, Any]]:
    """find_generations as ``user`` with named arguments."""
    named = ", ".join(f"{k} => %({k})s" for k in args)
    return run(admin, user, f"select * from public.find_generations({named})", args)


def history(admin: Conn, user: User) -> list[str]:
    return ids(run(admin, user, "select id from public.list_generations(1000)"))


def new_collection(admin: Conn, user: User, name: str) -> str:
    return str(one(admin, user, "select id from public.create_collection(%s)", (name,)))


def share(
    admin: Conn, owner: User, email: str, gen: str | None = None, coll: str | None = None
) -> dict[str, Any]:
    rows = run(admin, owner, "select * from public.share_with(%s, %s, %s)", (email, gen, coll))
    assert len(rows) == 1
    return rows[0]


def new_link(
    admin: Conn, owner: User, gen: str | None = None, coll: str | None = None
) -> dict[str, Any]:
    rows = run(admin, owner, "select * from public.create_public_link(%s, %s)", (gen, coll))
    assert len(rows) == 1
    return rows[0]


def open_link(admin: Conn, token: str, who: User | str = "anon") -> list[dict[str, Any]]:
    return run(admin, who, "select * from public.open_public_link(%s)", (token,))


# ---------------------------------------------------------------------------
# Favourites
# ---------------------------------------------------------------------------


def test_star_and_unstar_many_at_once(admin: Conn, make_user: Any) -> None:
    """Stars land on the caller's rows only; the starred filter lists them; unstar undoes it."""
    me, other = make_user(), make_user()
    mine = [add_generation(admin, me, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(4)]
    theirs = add_generation(admin, other, "theirs")
    starred = run(
        admin,
        me,
        "select * from public.star_generations(%s::uuid[])",
        ([*mine[:3], theirs, str(uuid.uuid4())],),
    )
    assert sorted(ids(starred, "star_generations")) == sorted(mine[:3])
    assert ids(find(admin, me, starred_only=True)) == [mine[2], mine[1], mine[0]]
    assert admin.execute(
        "select starred from public.user_generations where id = %s", (theirs,)
    ).fetchone() == {"starred": False}

    unstarred = run(
        admin, me, "select * from public.star_generations(%s::uuid[], false)", (mine[:2],)
    )
    assert sorted(ids(unstarred, "star_generations")) == sorted(mine[:2])
    assert ids(find(admin, me, starred_only=True)) == [mine[2]]
    assert refused(
        admin, me, "select public.star_generations(%s::uuid[], null)", (mine,)
    ).sqlstate == ("22023")


def test_starred_first_pages_across_the_boundary(admin: Conn, make_user: Any) -> None:
    """ "Starred first" paged three at a time gives starred rows newest first, then the
    rest newest first, each once, although a page straddles the two parts."""
    me = make_user()
    rows = [add_generation(admin, me, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(10)]
    starred = [rows[i] for i in (1, 4, 5, 8)]
    run(admin, me, "select public.star_generations(%s::uuid[])", (starred,))
    expected = starred[::-1] + [r for r in rows[::-1] if r not in starred]

    seen: list[str] = []
    cursor: dict[str, Any] = {}
    for _ in range(10):
        page = find(admin, me, sort="starred", page_size=3, **cursor)
        if not page:
            break
        seen += ids(page)
        last = page[-1]
        cursor = {
            "cursor_created_at": last["created_at"],
            "cursor_id": last["id"],
            "cursor_starred": last["starred"],
        }
    assert seen == expected
    # The page that crosses from starred to the rest.
    crossing = find(
        admin,
        me,
        sort="starred",
        page_size=3,
        cursor_created_at=BASE + timedelta(minutes=4),
        cursor_id=starred[1],
        cursor_starred=True,
    )
    assert ids(crossing) == [starred[0], rows[9], rows[7]]
    malformed = refused(
        admin,
        me,
        "select * from public.find_generations(sort => 'starred', cursor_created_at => now(),"
        " cursor_id => gen_random_uuid())",
    )
    assert malformed.sqlstate == "22023"


# ---------------------------------------------------------------------------
# Collections
# ---------------------------------------------------------------------------


def test_collections_create_rename_delete(admin: Conn, make_user: Any) -> None:
    """A collection is created trimmed, renamed, listed with its count, and deleted."""
    me, other = make_user(), make_user()
    coll = new_collection(admin, me, "  Holidays ")
    assert run(admin, me, "select name, images from public.my_collections()") == [
        {"name": "Holidays", "images": 0}
    ]
    renamed = run(admin, me, "select * from public.rename_collection(%s, 'Trips')", (coll,))
    assert [(str(r["id"]), r["name"]) for r in renamed] == [(coll, "Trips")]
    # Another user can neither rename nor delete it, nor see it.
    assert (
        refused(
            admin, other, "select * from public.rename_collection(%s, 'Mine')", (coll,)
        ).sqlstate
        == "P0002"
    )
    assert one(admin, other, "select public.delete_collection(%s)", (coll,)) is False
    assert run(admin, other, "select * from public.my_collections()") == []
    assert one(admin, me, "select public.delete_collection(%s)", (coll,)) is True
    assert one(admin, me, "select public.delete_collection(%s)", (coll,)) is False
    assert run(admin, me, "select * from public.my_collections()") == []
    for bad in ("", "   ", "x" * 101):
        assert (
            refused(admin, me, "select * from public.create_collection(%s)", (bad,)).sqlstate
            == "22023"
        )


def test_collection_names_are_unique_case_insensitively(admin: Conn, make_user: Any) -> None:
    """A second "holidays" (in any case) is 55000 on create and on rename; another user
    may use the same name."""
    me, other = make_user(), make_user()
    new_collection(admin, me, "Holidays")
    second = new_collection(admin, me, "Work")
    err = refused(admin, me, "select * from public.create_collection('HOLIDAYS')")
    assert err.sqlstate == "55000"
    assert "HOLIDAYS" in str(err.diag.message_primary)
    assert err.diag.message_hint
    err = refused(admin, me, "select * from public.rename_collection(%s, ' holidays')", (second,))
    assert err.sqlstate == "55000"
    new_collection(admin, other, "holidays")
    assert [r["name"] for r in run(admin, me, "select name from public.my_collections()")] == [
        "Holidays",
        "Work",
    ]


def test_collection_items_add_remove_and_cascades(admin: Conn, make_user: Any) -> None:
    """Images go in and out; one image may be in several collections; deleting an image
    takes it out of them; deleting a collection keeps its images."""
    me, other = make_user(), make_user()
    a, b, c = (add_generation(admin, me, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(3))
    theirs = add_generation(admin, other, "theirs")
    first, second = new_collection(admin, me, "First"), new_collection(admin, me, "Second")

    added = one(
        admin, me, "select public.add_to_collection(%s, %s::uuid[])", (first, [a, b, theirs])
    )
    assert added == 2
    assert one(admin, me, "select public.add_to_collection(%s, %s::uuid[])", (first, [a])) == 0
    assert one(admin, me, "select public.add_to_collection(%s, %s::uuid[])", (second, [a, c])) == 2
    assert ids(find(admin, me, collection_id=first)) == [b, a]
    assert ids(find(admin, me, collection_id=second)) == [c, a]
    # Another user's collection is not found, for adding or for browsing.
    for query in (
        "select public.add_to_collection(%s, %s::uuid[])",
        "select public.remove_from_collection(%s, %s::uuid[])",
    ):
        assert refused(admin, other, query, (first, [theirs])).sqlstate == "P0002"
    err = refused(
        admin, other, "select * from public.find_generations(collection_id => %s)", (first,)
    )
    assert err.sqlstate == "P0002"

    assert one(admin, me, "select public.remove_from_collection(%s, %s::uuid[])", (first, [b])) == 1
    assert ids(find(admin, me, collection_id=first)) == [a]
    assert b in history(admin, me)

    run(admin, me, "select * from public.delete_generations(%s::uuid[])", ([a],))
    assert ids(find(admin, me, collection_id=first)) == []
    assert ids(find(admin, me, collection_id=second)) == [c]
    left = admin.execute(
        "select count(*)::int as n from public.collection_items where generation_id = %s", (a,)
    ).fetchone()
    assert left == {"n": 0}

    counts = {
        r["name"]: r["images"] for r in run(admin, me, "select * from public.my_collections()")
    }
    assert counts == {"First": 0, "Second": 1}
    assert one(admin, me, "select public.delete_collection(%s)", (second,)) is True
    assert sorted(history(admin, me)) == sorted([b, c])


# ---------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------


def test_tags_are_trimmed_and_lower_cased(admin: Conn, make_user: Any) -> None:
    """ " Sunset ", "SUNSET" and "sunset" are one tag; a tag of 50 characters is fine."""
    me = make_user()
    gen = add_generation(admin, me)
    added = one(
        admin,
        me,
        "select public.tag_generations(%s::uuid[], %s)",
        ([gen], ["  Sunset ", "SUNSET", "Beach", "x" * 50]),
    )
    assert added == 3
    assert one(admin, me, "select public.tag_generations(%s::uuid[], %s)", ([gen], ["sunset"])) == 0
    [row] = find(admin, me)
    assert row["tags"] == ["beach", "sunset", "x" * 50]
    assert (
        one(admin, me, "select public.untag_generations(%s::uuid[], %s)", ([gen], [" BEACH"])) == 1
    )
    assert find(admin, me)[0]["tags"] == ["sunset", "x" * 50]


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(["y" * 51], id="too-long"),
        pytest.param([""], id="empty"),
        pytest.param(["   "], id="blank"),
        pytest.param([], id="none-given"),
        pytest.param([f"t{i}" for i in range(21)], id="21-at-once"),
    ],
)
def test_bad_tags_are_refused(admin: Conn, make_user: Any, tags: list[str]) -> None:
    """A tag over 50 characters, an empty one, none at all or 21 at once: 22023."""
    me = make_user()
    gen = add_generation(admin, me)
    err = refused(admin, me, "select public.tag_generations(%s::uuid[], %s::text[])", ([gen], tags))
    assert err.sqlstate == "22023"
    assert find(admin, me)[0]["tags"] == []


def test_at_most_twenty_tags_per_image(admin: Conn, make_user: Any) -> None:
    """Twenty tags fit; a 21st is 22023; a direct insert is refused outright; re-adding
    one the image already has changes nothing and is no error."""
    me = make_user()
    gen = add_generation(admin, me)
    twenty = [f"tag{i:02d}" for i in range(20)]
    assert one(admin, me, "select public.tag_generations(%s::uuid[], %s)", ([gen], twenty)) == 20
    err = refused(admin, me, "select public.tag_generations(%s::uuid[], %s)", ([gen], ["one-more"]))
    assert err.sqlstate == "22023"
    assert "20" in str(err.diag.message_primary)
    err = refused(
        admin,
        me,
        "insert into public.generation_tags (generation_id, tag, user_id, generation_created_at)"
        " select id, 'direct', user_id, created_at from public.user_generations where id = %s",
        (gen,),
    )
    assert err.sqlstate == "42501"
    again = one(admin, me, "select public.tag_generations(%s::uuid[], %s)", ([gen], ["tag05"]))
    assert again == 0
    assert len(find(admin, me)[0]["tags"]) == 20


def test_the_tag_limit_tells_others_nothing(admin: Conn, make_user: Any) -> None:
    """Another user writing a tag row onto a full generation gets the same refusal as the
    owner and as anybody else, never the count that would reveal the generation is full."""
    me, other = make_user(), make_user()
    gen = add_generation(admin, me)
    run(
        admin,
        me,
        "select public.tag_generations(%s::uuid[], %s)",
        ([gen], [f"t{i}" for i in range(20)]),
    )
    insert = (
        "insert into public.generation_tags (generation_id, tag, user_id, generation_created_at)"
        " select %s, 'extra', %s, created_at from public.user_generations where id = %s"
    )
    created = admin.execute(
        "select created_at from public.user_generations where id = %s", (gen,)
    ).fetchone()
    assert created is not None
    direct = (
        "insert into public.generation_tags (generation_id, tag, user_id, generation_created_at)"
        " values (%s, 'extra', %s, %s)"
    )
    assert refused(admin, other, direct, (gen, me.id, created["created_at"])).sqlstate == "42501"
    assert refused(admin, other, direct, (gen, other.id, created["created_at"])).sqlstate == "42501"
    assert refused(admin, me, insert, (gen, me.id, gen)).sqlstate == "42501"
    # Through the function, another user's id is ignored like an unknown one.
    tag = "select public.tag_generations(%s::uuid[], array['extra'])"
    assert run(admin, other, tag, ([gen],)) == run(admin, other, tag, ([str(uuid.uuid4())],))


def test_filter_by_one_and_several_tags_and_my_tags(admin: Conn, make_user: Any) -> None:
    """with_tags needs every tag given; my_tags counts images in the history only."""
    me, other = make_user(), make_user()
    a, b, c, d = (
        add_generation(admin, me, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(4)
    )
    tag = "select public.tag_generations(%s::uuid[], %s)"
    run(admin, me, tag, ([a, b, c, d], ["cat"]))
    run(admin, me, tag, ([b, c], ["Black"]))
    run(admin, me, tag, ([c], ["small"]))
    theirs = add_generation(admin, other)
    run(admin, other, tag, ([theirs], ["cat"]))
    assert one(admin, me, tag, ([theirs], ["planted"])) == 0

    assert ids(find(admin, me, with_tags=["cat"])) == [d, c, b, a]
    assert ids(find(admin, me, with_tags=[" CAT", "black"])) == [c, b]
    assert ids(find(admin, me, with_tags=["cat", "black", "small"])) == [c]
    assert ids(find(admin, me, with_tags=["dog"])) == []
    assert run(admin, me, "select tag, images from public.my_tags()") == [
        {"tag": "cat", "images": 4},
        {"tag": "black", "images": 2},
        {"tag": "small", "images": 1},
    ]
    run(admin, me, "select public.trash_generations(%s::uuid[])", ([c],))
    assert run(admin, me, "select tag, images from public.my_tags()") == [
        {"tag": "cat", "images": 3},
        {"tag": "black", "images": 1},
    ]
    assert run(admin, other, "select tag, images from public.my_tags()") == [
        {"tag": "cat", "images": 1}
    ]


# ---------------------------------------------------------------------------
# Trash
# ---------------------------------------------------------------------------


def test_trash_and_restore(admin: Conn, make_user: Any) -> None:
    """Trashed rows leave history, search and find, and are listed with in_trash;
    restoring brings them back. Others' ids are ignored."""
    me, other = make_user(), make_user()
    keep = add_generation(admin, me, "red fox", at=BASE)
    bin_ = add_generation(admin, me, "red panda", at=BASE + timedelta(minutes=1))
    theirs = add_generation(admin, other, "red kite")
    trashed = run(
        admin, me, "select * from public.trash_generations(%s::uuid[])", ([bin_, theirs],)
    )
    assert ids(trashed, "trash_generations") == [bin_]
    assert run(admin, me, "select * from public.trash_generations(%s::uuid[])", ([bin_],)) == []
    assert history(admin, me) == [keep]
    assert ids(run(admin, me, "select id from public.search_generations('red')")) == [keep]
    assert ids(find(admin, me)) == [keep]
    in_trash = find(admin, me, in_trash=True)
    assert ids(in_trash) == [bin_]
    assert in_trash[0]["trashed_at"] is not None
    assert admin.execute(
        "select trashed_at from public.user_generations where id = %s", (theirs,)
    ).fetchone() == {"trashed_at": None}

    restored = run(
        admin, me, "select * from public.restore_generations(%s::uuid[])", ([bin_, keep],)
    )
    assert ids(restored, "restore_generations") == [bin_]
    assert history(admin, me) == [bin_, keep]
    assert find(admin, me, in_trash=True) == []


def test_empty_trash_returns_the_files_to_remove(admin: Conn, make_user: Any) -> None:
    """empty_trash deletes only trashed rows and names the files no other row uses."""
    me = make_user()
    live = add_generation(admin, me, "live", at=BASE)
    alone = add_generation(admin, me, "alone", at=BASE + timedelta(minutes=1), thumbnail=True)
    sharing = add_generation(
        admin, me, "same file", at=BASE + timedelta(minutes=2), image=f"{me.id}/{live}.webp"
    )
    run(admin, me, "select public.trash_generations(%s::uuid[])", ([alone, sharing],))
    removed = {
        str(r["id"]): sorted(r["removable_paths"])
        for r in run(admin, me, "select * from public.empty_trash()")
    }
    assert removed == {
        alone: sorted([f"{me.id}/{alone}.webp", f"{me.id}/{alone}.thumb.webp"]),
        sharing: [],
    }
    assert history(admin, me) == [live]
    assert find(admin, me, in_trash=True) == []
    assert run(admin, me, "select * from public.empty_trash()") == []
    assert refused(admin, me, "select * from public.empty_trash(0)").sqlstate == "22023"


def test_admin_purge_trash_is_for_operators_and_respects_the_age(
    admin: Conn, make_user: Any
) -> None:
    """Only service_role may purge; it removes rows trashed longer ago than the
    interval, of every user, and keeps younger ones and the history."""
    me, you = make_user(), make_user()
    old_mine = add_generation(admin, me, "old", thumbnail=True)
    young_mine = add_generation(admin, me, "young")
    live = add_generation(admin, me, "live")
    old_yours = add_generation(admin, you, "old too")
    admin.execute(
        "update public.user_generations set trashed_at = now() - interval '31 days'"
        " where id = any(%s::uuid[])",
        ([old_mine, old_yours],),
    )
    admin.execute(
        "update public.user_generations set trashed_at = now() - interval '29 days' where id = %s",
        (young_mine,),
    )
    call = "select * from public.admin_purge_trash(interval '30 days')"
    assert refused(admin, me, call).sqlstate == "42501"
    assert refused(admin, "anon", call).sqlstate == "42501"
    purged = {
        str(r["id"]): r for r in run(admin, "service_role", call) if r["user_id"] in (me.id, you.id)
    }
    assert set(purged) == {old_mine, old_yours}
    assert sorted(purged[old_mine]["removable_paths"]) == sorted(
        [f"{me.id}/{old_mine}.webp", f"{me.id}/{old_mine}.thumb.webp"]
    )
    left = admin.execute(
        "select id::text from public.user_generations where user_id in (%s, %s) order by id",
        (me.id, you.id),
    ).fetchall()
    assert {r["id"] for r in left} == {young_mine, live}
    assert (
        refused(admin, "service_role", "select * from public.admin_purge_trash('-1 day')").sqlstate
        == "22023"
    )


# ---------------------------------------------------------------------------
# Sharing with another user
# ---------------------------------------------------------------------------


def test_share_by_email_and_what_the_recipient_sees(admin: Conn, make_user: Any) -> None:
    """A share by email (any case, spaces trimmed) shows the image to the recipient
    with the sharer's email; my_shares shows it to the sharer."""
    owner, recipient, stranger = make_user(), make_user(), make_user()
    gen = add_generation(admin, owner, "shared prompt")
    add_generation(admin, owner, "not shared")
    made = share(admin, owner, f"  {recipient.email.upper()} ", gen=gen)
    assert made["recipient_email"] == recipient.email
    again = share(admin, owner, recipient.email, gen=gen)
    assert again["id"] == made["id"]

    assert run(
        admin, owner, "select id, recipient_email, generation_id from public.my_shares()"
    ) == [{"id": made["id"], "recipient_email": recipient.email, "generation_id": uuid.UUID(gen)}]
    mine = run(admin, recipient, "select * from public.shared_with_me()")
    assert [(r["id"], r["shared_by"], str(r["generation_id"]), r["images"]) for r in mine] == [
        (made["id"], owner.email, gen, 1)
    ]
    shown = run(admin, recipient, "select * from public.shared_generations()")
    assert [(str(r["id"]), r["prompt"], r["shared_by"], r["via_share"]) for r in shown] == [
        (gen, "shared prompt", owner.email, made["id"])
    ]
    assert run(admin, stranger, "select * from public.shared_generations()") == []
    assert run(admin, stranger, "select * from public.shared_with_me()") == []
    # The share gives no access to the table itself.
    assert (
        run(admin, recipient, "select id from public.user_generations where id = %s", (gen,)) == []
    )


def test_share_refusals(admin: Conn, make_user: Any) -> None:
    """Unknown email P0002; oneself 22023; another user's or a trashed image P0002;
    neither or both targets 22023."""
    owner, other = make_user(), make_user()
    gen = add_generation(admin, owner)
    coll = new_collection(admin, owner, "C")
    theirs = add_generation(admin, other)
    call = "select * from public.share_with(%s, %s, %s)"
    err = refused(admin, owner, call, ("nobody@example.test", gen, None))
    assert err.sqlstate == "P0002"
    assert "nobody@example.test" in str(err.diag.message_primary)
    assert err.diag.message_hint
    assert refused(admin, owner, call, (owner.email.upper(), gen, None)).sqlstate == "22023"
    assert refused(admin, owner, call, (other.email, theirs, None)).sqlstate == "P0002"
    assert refused(admin, owner, call, (other.email, None, None)).sqlstate == "22023"
    assert refused(admin, owner, call, (other.email, gen, coll)).sqlstate == "22023"
    run(admin, owner, "select public.trash_generations(%s::uuid[])", ([gen],))
    assert refused(admin, owner, call, (other.email, gen, None)).sqlstate == "P0002"
    assert admin.execute(
        "select count(*)::int as n from public.shares where owner_id = %s", (owner.id,)
    ).fetchone() == {"n": 0}


def test_collection_share_shows_its_items(admin: Conn, make_user: Any) -> None:
    """A shared collection shows what is in it now, not what was in it when shared."""
    owner, recipient = make_user(), make_user()
    a, b, c = (
        add_generation(admin, owner, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(3)
    )
    coll = new_collection(admin, owner, "Shared album")
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, [a, b]))
    made = share(admin, owner, recipient.email, coll=coll)
    [entry] = run(admin, recipient, "select * from public.shared_with_me()")
    assert (entry["collection_name"], entry["images"], entry["shared_by"]) == (
        "Shared album",
        2,
        owner.email,
    )
    page = "select id from public.shared_generations(%s)"
    assert ids(run(admin, recipient, page, (made["id"],))) == [b, a]
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, [c]))
    run(admin, owner, "select public.remove_from_collection(%s, %s::uuid[])", (coll, [a]))
    assert ids(run(admin, recipient, page, (made["id"],))) == [c, b]
    # Paged one at a time with the cursor.
    first = run(admin, recipient, "select * from public.shared_generations(%s, 1)", (made["id"],))
    second = run(
        admin,
        recipient,
        "select * from public.shared_generations(%s, 1, %s, %s)",
        (made["id"], first[0]["created_at"], first[0]["id"]),
    )
    assert ids(first) + ids(second) == [c, b]


def test_unshare_and_trash_end_access_at_once(admin: Conn, make_user: Any) -> None:
    """Trashing hides a shared image from the recipient; unshare ends the share; only
    the owner may unshare."""
    owner, recipient = make_user(), make_user()
    gen, in_coll = add_generation(admin, owner, "g"), add_generation(admin, owner, "in coll")
    coll = new_collection(admin, owner, "Album")
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, [in_coll]))
    by_gen = share(admin, owner, recipient.email, gen=gen)
    share(admin, owner, recipient.email, coll=coll)
    shown = "select id from public.shared_generations()"
    assert sorted(ids(run(admin, recipient, shown))) == sorted([gen, in_coll])

    run(admin, owner, "select public.trash_generations(%s::uuid[])", ([gen, in_coll],))
    assert run(admin, recipient, shown) == []
    listed = run(admin, recipient, "select * from public.shared_with_me()")
    assert [(r["collection_id"], r["images"]) for r in listed] == [(uuid.UUID(coll), 0)]
    run(admin, owner, "select public.restore_generations(%s::uuid[])", ([gen, in_coll],))
    assert sorted(ids(run(admin, recipient, shown))) == sorted([gen, in_coll])

    assert one(admin, recipient, "select public.unshare(%s)", (by_gen["id"],)) is False
    assert one(admin, owner, "select public.unshare(%s)", (by_gen["id"],)) is True
    assert ids(run(admin, recipient, shown)) == [in_coll]
    assert one(admin, owner, "select public.delete_collection(%s)", (coll,)) is True
    assert run(admin, recipient, shown) == []
    assert run(admin, recipient, "select * from public.shared_with_me()") == []


def test_shared_files_are_readable_by_recipients_only_while_shared(
    admin: Conn, make_user: Any
) -> None:
    """genvault_is_shared_file (Storage's share policy) says yes to a recipient for the
    image and thumbnail of a shared generation, alone or in a collection, and no once it
    is trashed or unshared, to anyone else, and for other paths."""
    owner, recipient, stranger = make_user(), make_user(), make_user()
    alone = add_generation(admin, owner, thumbnail=True)
    in_coll = add_generation(admin, owner)
    private = add_generation(admin, owner)
    coll = new_collection(admin, owner, "Files")
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, [in_coll]))
    by_gen = share(admin, owner, recipient.email, gen=alone)
    share(admin, owner, recipient.email, coll=coll)
    paths = {
        "image": f"{owner.id}/{alone}.webp",
        "thumbnail": f"{owner.id}/{alone}.thumb.webp",
        "in collection": f"{owner.id}/{in_coll}.webp",
        "private": f"{owner.id}/{private}.webp",
    }

    def readable(who: User) -> set[str]:
        return {
            what
            for what, path in paths.items()
            if one(admin, who, "select public.genvault_is_shared_file(%s)", (path,))
        }

    assert readable(recipient) == {"image", "thumbnail", "in collection"}
    assert readable(stranger) == set()
    assert readable(owner) == set()
    run(admin, owner, "select public.trash_generations(%s::uuid[])", ([in_coll],))
    assert readable(recipient) == {"image", "thumbnail"}
    run(admin, owner, "select public.unshare(%s)", (by_gen["id"],))
    assert readable(recipient) == set()


def test_recipient_cannot_change_or_pass_on_what_is_shared(admin: Conn, make_user: Any) -> None:
    """Through every table and every function, the recipient of a share changes nothing
    of the owner's and cannot share it further."""
    owner, recipient, third = make_user(), make_user(), make_user()
    gen = add_generation(admin, owner, "precious")
    coll = new_collection(admin, owner, "Album")
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, [gen]))
    run(admin, owner, "select public.tag_generations(%s::uuid[], %s)", ([gen], ["mine"]))
    made = share(admin, owner, recipient.email, gen=gen)
    share(admin, owner, recipient.email, coll=coll)
    before = admin.execute(
        "select g.*, (select array_agg(tag) from public.generation_tags t"
        "              where t.generation_id = g.id) as tags"
        "  from public.user_generations g where g.id = %s",
        (gen,),
    ).fetchone()
    p = {
        "gen": gen,
        "other_gen": add_generation(admin, owner),
        "coll": coll,
        "share": made["id"],
        "third": third.email,
        "me": recipient.id,
    }
    nothing = [
        "select * from public.star_generations(array[%(gen)s]::uuid[])",
        "select * from public.trash_generations(array[%(gen)s]::uuid[])",
        "select * from public.restore_generations(array[%(gen)s]::uuid[])",
        "select * from public.delete_generations(array[%(gen)s]::uuid[])",
        "select * from public.get_generation(%(gen)s)",
        "select * from public.find_generations() where id = %(gen)s",
        "select t from public.tag_generations(array[%(gen)s]::uuid[], array['x']) t where t > 0",
        "select t from public.untag_generations(array[%(gen)s]::uuid[], array['mine']) t"
        " where t > 0",
        "select d from public.delete_collection(%(coll)s) d where d",
        "select u from public.unshare(%(share)s) u where u",
    ]
    for query in nothing:
        assert run(admin, recipient, query, p) == [], query
    errors = {
        "update public.user_generations set prompt = 'hijacked', starred = true,"
        " trashed_at = now() where id = %(gen)s returning id": "42501",
        "delete from public.user_generations where id = %(gen)s returning id": "42501",
        "update public.collections set name = 'hijacked' where id = %(coll)s returning id": "42501",
        "delete from public.collections where id = %(coll)s returning id": "42501",
        "delete from public.collection_items where collection_id = %(coll)s returning 1": "42501",
        "delete from public.generation_tags where generation_id = %(gen)s returning 1": "42501",
        "update public.shares set recipient_id = %(me)s where id = %(share)s": "42501",
        "delete from public.shares where id = %(share)s": "42501",
        "insert into public.shares (owner_id, recipient_id, generation_id)"
        " values (%(me)s, %(me)s, %(gen)s)": "42501",
        "insert into public.collection_items (collection_id, generation_id, user_id,"
        " generation_created_at) values (%(coll)s, %(other_gen)s, %(me)s, now())": "42501",
        # Rows that exist for the owner: the error must not say so.
        "insert into public.collection_items (collection_id, generation_id, user_id,"
        " generation_created_at) values (%(coll)s, %(gen)s, %(me)s, now())": "42501",
        "insert into public.generation_tags (generation_id, tag, user_id,"
        " generation_created_at) values (%(gen)s, 'mine', %(me)s, now())": "42501",
        "update public.collection_items set added_at = now()": "42501",
        "select public.add_to_collection(%(coll)s, array[%(gen)s]::uuid[])": "P0002",
        "select public.remove_from_collection(%(coll)s, array[%(gen)s]::uuid[])": "P0002",
        "select * from public.rename_collection(%(coll)s, 'hijacked')": "P0002",
        "select * from public.share_with(%(third)s, %(gen)s)": "P0002",
        "select * from public.share_with(%(third)s, null, %(coll)s)": "P0002",
        "select * from public.create_public_link(%(gen)s)": "P0002",
        "select * from public.create_public_link(null, %(coll)s)": "P0002",
        "select * from public.find_generations(collection_id => %(coll)s)": "P0002",
    }
    for query, code in errors.items():
        assert refused(admin, recipient, query, p).sqlstate == code, query
    after = admin.execute(
        "select g.*, (select array_agg(tag) from public.generation_tags t"
        "              where t.generation_id = g.id) as tags"
        "  from public.user_generations g where g.id = %s",
        (gen,),
    ).fetchone()
    assert after == before
    assert run(admin, third, "select * from public.shared_with_me()") == []
    assert admin.execute(
        "select count(*)::int as n from public.shares where owner_id = %s", (owner.id,)
    ).fetchone() == {"n": 2}


# ---------------------------------------------------------------------------
# Public links
# ---------------------------------------------------------------------------


def test_link_tokens_are_long_random_and_only_their_hash_is_stored(
    admin: Conn, make_user: Any
) -> None:
    """Tokens are 64 hex digits, never repeat, carry well over 128 random bits, and the
    table holds only their SHA-256."""
    me = make_user()
    gen = add_generation(admin, me)
    tokens = [
        r["token"]
        for r in run(
            admin,
            me,
            "select (public.create_public_link(%s)).token from generate_series(1, 200)",
            (gen,),
        )
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens)
    assert len(set(tokens)) == len(tokens)
    # Every position that takes more than one value across the tokens carries 4 bits.
    varying = sum(len({t[i] for t in tokens}) > 1 for i in range(64))
    assert varying * 4 >= 128 * 1.5, varying
    stored = admin.execute(
        "select token_sha256, to_jsonb(l)::text as everything from public.public_links l"
        " where owner_id = %s",
        (me.id,),
    ).fetchall()
    assert {bytes(r["token_sha256"]) for r in stored} == {
        hashlib.sha256(t.encode()).digest() for t in tokens
    }
    everything = " ".join(r["everything"] for r in stored)
    assert not any(t in everything for t in tokens)
    assert not any(
        t in str(r)
        for t in tokens[:5]
        for r in run(admin, me, "select * from public.my_public_links()")
    )


def test_anon_opens_a_link_until_it_expires_or_is_revoked(admin: Conn, make_user: Any) -> None:
    """Anyone holding the token sees the image, read-only; once revoked or expired, or
    with a wrong token, nothing is shown."""
    owner, other = make_user(), make_user()
    gen = add_generation(admin, owner, "for everyone", thumbnail=True)
    link = new_link(admin, owner, gen=gen)
    [shown] = open_link(admin, link["token"])
    assert (str(shown["id"]), shown["prompt"], shown["shared_by"]) == (
        gen,
        "for everyone",
        owner.email.split("@")[0],
    )
    assert shown["expires_at"] == link["expires_at"]
    assert ids(open_link(admin, link["token"], other)) == [gen]
    for wrong in (secrets.token_hex(32), link["token"].upper(), link["token"][:-1], "", "x"):
        assert open_link(admin, wrong) == []

    links = run(admin, owner, "select id, active from public.my_public_links()")
    assert links == [{"id": link["id"], "active": True}]
    assert one(admin, other, "select public.revoke_public_link(%s)", (link["id"],)) is False
    assert ids(open_link(admin, link["token"])) == [gen]
    assert one(admin, owner, "select public.revoke_public_link(%s)", (link["id"],)) is True
    assert one(admin, owner, "select public.revoke_public_link(%s)", (link["id"],)) is False
    assert open_link(admin, link["token"]) == []
    assert run(admin, owner, "select active from public.my_public_links()") == [{"active": False}]

    expiring = new_link(admin, owner, gen=gen)
    assert ids(open_link(admin, expiring["token"])) == [gen]
    admin.execute(
        "update public.public_links set created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' where id = %s",
        (expiring["id"],),
    )
    assert open_link(admin, expiring["token"]) == []

    for bad in ("30 seconds", "400 days"):
        err = refused(
            admin, owner, "select * from public.create_public_link(%s, null, %s)", (gen, bad)
        )
        assert err.sqlstate == "22023"
    trashed = new_link(admin, owner, gen=gen)
    run(admin, owner, "select public.trash_generations(%s::uuid[])", ([gen],))
    assert open_link(admin, trashed["token"]) == []


def test_a_collection_link_pages_through_the_collection(admin: Conn, make_user: Any) -> None:
    """A link to a collection shows its items newest first, page by page, with its name."""
    owner = make_user()
    gens = [add_generation(admin, owner, f"p{i}", at=BASE + timedelta(minutes=i)) for i in range(3)]
    add_generation(admin, owner, "not in it")
    coll = new_collection(admin, owner, "Public album")
    run(admin, owner, "select public.add_to_collection(%s, %s::uuid[])", (coll, gens))
    link = new_link(admin, owner, coll=coll)
    first = run(admin, "anon", "select * from public.open_public_link(%s, 2)", (link["token"],))
    rest = run(
        admin,
        "anon",
        "select * from public.open_public_link(%s, 2, %s, %s)",
        (link["token"], first[-1]["created_at"], first[-1]["id"]),
    )
    assert ids(first) + ids(rest) == gens[::-1]
    assert {r["collection_name"] for r in first + rest} == {"Public album"}
    assert one(admin, owner, "select public.delete_collection(%s)", (coll,)) is True
    assert open_link(admin, link["token"]) == []


# ---------------------------------------------------------------------------
# Prompt templates
# ---------------------------------------------------------------------------


def test_templates_save_replace_render_delete(admin: Conn, make_user: Any) -> None:
    """A template is saved with its placeholders, replaced by name in any case, filled
    in, and deleted; another user cannot see or use it."""
    me, other = make_user(), make_user()
    saved = one(
        admin,
        me,
        "select public.save_template(' Portrait ', 'a {style} portrait of {subject}, {style}',"
        " 'test/model', '{\"steps\": 4}')",
    )
    assert (saved["name"], saved["placeholders"], saved["params"]) == (
        "Portrait",
        ["style", "subject"],
        {"steps": 4},
    )
    replaced = one(admin, me, "select public.save_template('PORTRAIT', 'the {subject} at {time}')")
    assert replaced["id"] == saved["id"]
    assert (replaced["name"], replaced["placeholders"], replaced["model"]) == (
        "PORTRAIT",
        ["subject", "time"],
        None,
    )
    assert run(admin, me, "select name, placeholders from public.my_templates()") == [
        {"name": "PORTRAIT", "placeholders": ["subject", "time"]}
    ]
    rendered = run(
        admin,
        me,
        "select * from public.render_template('portrait', %s::jsonb)",
        ('{"subject": "cat", "time": "dawn"}',),
    )
    assert rendered == [{"prompt": "the cat at dawn", "model": None, "params": {}}]

    assert run(admin, other, "select * from public.my_templates()") == []
    err = refused(admin, other, "select * from public.render_template('portrait', '{}')")
    assert err.sqlstate == "P0002"
    assert one(admin, other, "select public.delete_template('portrait')") is False
    assert one(admin, me, "select public.delete_template(' Portrait')") is True
    assert run(admin, me, "select * from public.my_templates()") == []
    assert refused(
        admin, me, "select * from public.render_template('portrait', '{}')"
    ).sqlstate == ("P0002")


def test_ending_a_share_link_or_template_needs_a_signed_in_user(
    admin: Conn, make_user: Any
) -> None:
    """A request without a user (the authenticated role, no subject in the claims) gets
    "not signed in" from unshare, revoke_public_link and delete_template, for an id that
    exists as for one that does not, and nothing ends."""
    owner, recipient = make_user(), make_user()
    gen = add_generation(admin, owner, "kept")
    shared, link = share(admin, owner, recipient.email, gen=gen), new_link(admin, owner, gen=gen)
    run(admin, owner, "select public.save_template('kept', 'a {subject}')")
    for call, arg in (
        ("select public.unshare(%s)", shared["id"]),
        ("select public.unshare(%s)", uuid.uuid4()),
        ("select public.revoke_public_link(%s)", link["id"]),
        ("select public.revoke_public_link(%s)", uuid.uuid4()),
        ("select public.delete_template(%s)", "kept"),
        ("select public.delete_template(%s)", "none such"),
    ):
        err = refused(admin, "authenticated", call, (arg,))
        assert (err.sqlstate, err.diag.message_primary) == ("28000", "not signed in"), call
    assert [r["id"] for r in run(admin, owner, "select id from public.my_shares()")] == [
        shared["id"]
    ]
    assert one(admin, owner, "select active from public.my_public_links()") is True
    assert one(admin, owner, "select name from public.my_templates()") == "kept"


def test_render_fills_every_placeholder_once(admin: Conn, make_user: Any) -> None:
    """Every {name} is replaced, repeats too; a value that looks like a placeholder is
    kept as it is; braces that are not placeholders stay."""
    me = make_user()
    run(admin, me, "select public.save_template('t', '{a} and {b}, {a}; {not a name} {1x}')")
    [row] = run(
        admin,
        me,
        "select prompt from public.render_template('t', %s::jsonb)",
        ('{"a": "{b}", "b": "B"}',),
    )
    assert row["prompt"] == "{b} and B, {b}; {not a name} {1x}"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        pytest.param('{"a": "x"}', ["b", "c"], id="missing"),
        pytest.param(
            '{"a": "x", "b": "y", "c": "z", "typo": "w", "zz": "v"}', ["typo", "zz"], id="unknown"
        ),
        pytest.param('{"a": "x", "b": 2, "c": "z"}', ["b"], id="not-text"),
    ],
)
def test_render_refuses_missing_and_unknown_names(
    admin: Conn, make_user: Any, values: str, names: list[str]
) -> None:
    """Missing, unknown or non-text values are 22023, and the message names them."""
    me = make_user()
    run(admin, me, "select public.save_template('t', '{a} {b} {c}')")
    err = refused(admin, me, "select * from public.render_template('t', %s::jsonb)", (values,))
    assert err.sqlstate == "22023"
    message = str(err.diag.message_primary)
    assert all(n in message for n in names), message


def test_bad_templates_are_refused(admin: Conn, make_user: Any) -> None:
    """An empty name or prompt, a prompt over 2000 characters or params that are not an
    object: 22023."""
    me = make_user()
    for name, prompt, params in (
        ("", "p", "{}"),
        ("n", "   ", "{}"),
        ("n", "x" * 2001, "{}"),
        ("n", "p", "[1]"),
    ):
        err = refused(
            admin,
            me,
            "select public.save_template(%s, %s, null, %s::jsonb)",
            (name, prompt, params),
        )
        assert err.sqlstate == "22023"
    assert run(admin, me, "select * from public.my_templates()") == []


# ---------------------------------------------------------------------------
# find_generations: every filter and sort, paged, equals one big query
# ---------------------------------------------------------------------------

TAGS = ("red", "blue", "green")
PROMPTS = ("red fox", "Blue whale", "green frog", "RED panda", "tiny cat", "a_b%c")
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 5),
            "model": st.sampled_from(("m1", "m2", "m3")),
            "starred": st.booleans(),
            "trashed": st.booleans(),
            "tags": st.sets(st.sampled_from(TAGS)),
            "collected": st.booleans(),
            "prompt": st.sampled_from(PROMPTS),
        }
    ),
    max_size=10,
)
QUERIES = st.fixed_dictionaries(
    {
        "sort": st.sampled_from(("newest", "oldest", "starred")),
        "page_size": st.integers(1, 4),
        "created_from": st.none() | st.integers(0, 5),
        "created_to": st.none() | st.integers(1, 6),
        "with_model": st.none() | st.sampled_from(("m1", "m2")),
        "starred_only": st.booleans(),
        "collection": st.booleans(),
        "with_tags": st.none() | st.lists(st.sampled_from(TAGS), min_size=1, max_size=3),
        "search_text": st.none() | st.sampled_from(("red", "RED", "fox", "whale", "a", "_b%")),
        "in_trash": st.booleans(),
    }
)


def _model(rows: list[dict[str, Any]], q: dict[str, Any]) -> list[str]:
    """What find_generations should return, computed here."""
    kept = [
        r
        for r in rows
        if r["trashed"] == q["in_trash"]
        and (q["created_from"] is None or r["minute"] >= q["created_from"])
        and (q["created_to"] is None or r["minute"] < q["created_to"])
        and (q["with_model"] is None or r["model"] == q["with_model"])
        and (not q["starred_only"] or r["starred"])
        and (not q["collection"] or r["collected"])
        and (q["with_tags"] is None or set(q["with_tags"]) <= r["tags"])
        and (q["search_text"] is None or q["search_text"].lower() in r["prompt"].lower())
    ]
    if q["sort"] == "oldest":
        return [r["id"] for r in sorted(kept, key=lambda r: (r["minute"], uuid.UUID(r["id"])))]
    if q["sort"] == "starred":
        kept.sort(key=lambda r: (r["starred"], r["minute"], uuid.UUID(r["id"])), reverse=True)
    else:
        kept.sort(key=lambda r: (r["minute"], uuid.UUID(r["id"])), reverse=True)
    return [r["id"] for r in kept]


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=ROWS, query=QUERIES)
def test_find_generations_paged_equals_one_query(
    admin: Conn, rows: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    """For random small histories and any filters and sort, walking the pages with the
    cursor gives exactly the rows, in the order, of one big query, and both equal the
    filters applied here."""
    if query["created_from"] is not None and query["created_to"] is not None:
        assume(query["created_from"] < query["created_to"])
    me = create_user(admin)
    coll = str(uuid.uuid4())
    admin.execute(
        "insert into public.collections (id, user_id, name) values (%s, %s, 'c')", (coll, me.id)
    )
    for r in rows:
        r["id"] = str(uuid.uuid4())
        at = BASE + timedelta(minutes=r["minute"])
        admin.execute(
            "insert into public.user_generations"
            " (id, user_id, prompt, image_url, model, created_at, starred, trashed_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, case when %s then now() end)",
            (
                r["id"],
                me.id,
                r["prompt"],
                f"{me.id}/{r['id']}.webp",
                r["model"],
                at,
                r["starred"],
                r["trashed"],
            ),
        )
        for tag in r["tags"]:
            admin.execute(
                "insert into public.generation_tags values (%s, %s, %s, %s)",
                (r["id"], tag, me.id, at),
            )
        if r["collected"]:
            admin.execute(
                "insert into public.collection_items"
                " (collection_id, generation_id, user_id, generation_created_at)"
                " values (%s, %s, %s, %s)",
                (coll, r["id"], me.id, at),
            )
    args: dict[str, Any] = {
        "sort": query["sort"],
        "created_from": None
        if query["created_from"] is None
        else BASE + timedelta(minutes=query["created_from"]),
        "created_to": None
        if query["created_to"] is None
        else BASE + timedelta(minutes=query["created_to"]),
        "with_model": query["with_model"],
        "starred_only": query["starred_only"],
        "collection_id": coll if query["collection"] else None,
        "with_tags": query["with_tags"],
        "search_text": query["search_text"],
        "in_trash": query["in_trash"],
    }
    whole = find(admin, me, page_size=1000, **args)
    paged: list[dict[str, Any]] = []
    cursor: dict[str, Any] = {}
    for _ in range(len(rows) + 2):
        page = find(admin, me, page_size=query["page_size"], **args, **cursor)
        assert len(page) <= query["page_size"]
        if not page:
            break
        paged += page
        last = page[-1]
        cursor = {"cursor_created_at": last["created_at"], "cursor_id": last["id"]}
        if query["sort"] == "starred":
            cursor["cursor_starred"] = last["starred"]
    assert ids(paged) == ids(whole)
    assert ids(whole) == _model(rows, query)
    by_id = {r["id"]: r for r in rows}
    for found in whole:
        assert found["tags"] == sorted(by_id[str(found["id"])]["tags"])
        assert found["user_id"] == me.id
