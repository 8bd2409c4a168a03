"""Ids as people type them: a full id or its first 8+ characters, looked up in the
database among the caller's own generations only, in the history, the trash or both."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from genvault import InvalidInput, NotFound
from tests.support.library import ClientOf, ScriptedModel, SignIn


def _twins(admin: psycopg.Connection[Any], gv: Any, prefix: str) -> list[str]:
    """Two new generations of ``gv``'s user whose ids both start with ``prefix``, and
    differ in the digit after it (0 and 1)."""
    ids = []
    for n in range(2):
        made = gv.create(f"twin {n}", model=ScriptedModel())
        wanted = str(uuid.UUID(f"{prefix}{n}{uuid.uuid4().hex[len(prefix) + 1 :]}"))
        with admin.transaction():  # past the trigger that keeps a record as it was made
            admin.execute("set local session_replication_role = replica")
            admin.execute(
                "update public.user_generations set id = %s where id = %s", (wanted, made.id)
            )
        ids.append(wanted)
    return ids


def test_a_unique_prefix_names_one_generation(signed_in: SignIn) -> None:
    with signed_in(credits=2) as (_, gv):
        made = gv.create("a fox", model=ScriptedModel())
        repo = gv.generations
        assert repo.resolve(made.id[:8]).id == made.id
        assert repo.resolve(made.id[:13].upper()).id == made.id  # dashes and case as shown
        assert repo.full_id(made.id[:9]) == made.id
        assert repo.full_id(f"  {made.id}  ") == made.id


def test_an_ambiguous_prefix_asks_for_more(
    admin: psycopg.Connection[Any], signed_in: SignIn
) -> None:
    with signed_in(credits=2) as (_, gv):
        first, second = _twins(admin, gv, "abcdef01")
        with pytest.raises(InvalidInput, match="start of more than one generation id") as caught:
            gv.generations.resolve("abcdef01")
        assert caught.value.hint == "give more characters of the id"
        assert gv.generations.resolve("abcdef01-0").id == first
        assert gv.generations.full_id("abcdef011") == second


def test_another_users_prefix_finds_nothing(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as a:
        theirs = a.create("alice's owl", model=ScriptedModel())
    with client_of(bob) as b:
        for value in (theirs.id[:8], theirs.id[:20]):
            with pytest.raises(NotFound, match="no generation id starts with") as caught:
                b.generations.resolve(value, scope="any")
            assert caught.value.hint == "list your ids with `gen list`"
        with pytest.raises(NotFound, match=f"no generation {theirs.id}"):
            b.generations.resolve(theirs.id)


def test_the_scope_decides_between_history_and_trash(signed_in: SignIn) -> None:
    with signed_in(credits=2) as (_, gv):
        kept = gv.create("kept", model=ScriptedModel())
        binned = gv.create("binned", model=ScriptedModel())
        repo = gv.generations
        repo.trash([binned.id])
        with pytest.raises(NotFound, match="no generation id starts with") as history:
            repo.resolve(binned.id[:8])
        assert history.value.hint == "list your ids with `gen list`"
        with pytest.raises(NotFound, match=f"generation {binned.id} is in the trash") as full:
            repo.resolve(binned.id)
        assert full.value.hint == f"bring it back first with `gen restore {binned.id[:8]}`"
        assert repo.resolve(binned.id[:8], scope="trash").id == binned.id
        assert repo.resolve(binned.id[:8], scope="any").id == binned.id
        with pytest.raises(NotFound, match="no generation id in the trash starts with") as trash:
            repo.resolve(kept.id[:8], scope="trash")
        assert trash.value.hint == "list your ids with `gen trash`"
        with pytest.raises(NotFound, match="is not in the trash"):
            repo.resolve(kept.id, scope="trash")
        # A full id names any generation of the user's, as `gen show` has always allowed.
        assert repo.full_id(binned.id) == binned.id


@pytest.mark.parametrize("value", ["abc", "1234567", "not-an-id", "0" * 32 + "0", "ab cd ef 01"])
def test_what_is_not_an_id_is_refused_before_any_call(signed_in: SignIn, value: str) -> None:
    with signed_in() as (_, gv):
        with pytest.raises(InvalidInput, match="is not a generation id") as caught:
            gv.generations.resolve(value)
        assert "8 or more characters" in (caught.value.hint or "")


def test_shares_and_links_by_prefix(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=1), make_user()
    with client_of(alice) as a, client_of(bob) as b:
        made = a.create("shared owl", model=ScriptedModel())
        share = a.sharing.share(bob.email, generation_id=made.id)
        link = a.sharing.create_link(generation_id=made.id)
        assert a.sharing.resolve_share(share.id[:8]).id == share.id
        assert a.sharing.resolve_link(link.id[:8]).id == link.id
        assert b.sharing.resolve_received(share.id[:8]).id == share.id
        assert b.sharing.resolve(made.id[:8]).id == made.id
        with pytest.raises(NotFound, match="you have no share"):
            b.sharing.resolve_share(share.id[:8])  # received, not made, by bob
        with pytest.raises(NotFound, match="nothing shared with you has an id starting with"):
            a.sharing.resolve(made.id[:8])
