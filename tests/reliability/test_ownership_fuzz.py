"""A user sees and changes only their own images. Random sequences of every operation,
by random actors, through both transports, checked against a model of what each actor
may see.

Each hypothesis example signs up three users with random balances (u0, u1, u2), a
"ghost" (a valid token whose user was deleted), and four actors that must be refused
before anything runs as a user: nobody signed in, u0's expired token, u0's token
signed with a wrong key, and a service_role token signed with a wrong key. Actors
then create, list, search, get, delete, export, read stats and credits, hold and
release reservations, sweep, delete their account, call every public function with
other users' ids, and (direct transport) run SQL as the authenticated role. They also
organise: star, trash and restore, tag and untag, make, fill, rename and delete
collections, share images and collections with each other by email and unshare them,
create, open and revoke public links (opened without an account on the direct
transport), and save, fill in and delete prompt templates, always with ids picked
from every user's things.

After every step the owner connection compares the whole database and the stored
files with the model: a row, ledger entry, file, star, tag, collection, share, link or
template of a user that changed in any way the model did not predict for that very
actor fails the run. A share lets its recipient see the shared images, read-only, and
nothing else; the model holds what each recipient and each link may show.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from genvault import Client
from genvault._exceptions import (
    Conflict,
    GenvaultError,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    SessionExpired,
)
from genvault._transport import DirectTransport, open_pool
from tests.support.database import acting_as
from tests.support.library import ScriptedModel, settings_for
from tests.support.reliability import (
    Evidence,
    HostedProject,
    books,
    fuzz_settings,
    local_files,
    tiny_png,
)
from tests.support.users import User, create_user, user_claims

USERS = ("u0", "u1", "u2")
REFUSED: dict[str, type[GenvaultError]] = {
    "anon": NotSignedIn,
    "expired": SessionExpired,
    "forged": NotSignedIn,
    "forged_service": NotSignedIn,
}
WRONG_KEY = "a-wrong-secret-that-is-long-enough-for-hs256-0000000"
PNG = tiny_png()

# Users act more often than the refused actors; the ghost is a user whose account is gone.
ACTORS = st.sampled_from(("u0", "u1", "u2", "u0", "u1", "u2", "ghost", *REFUSED))
WITH_SQL = st.sampled_from(("u0", "u1", "u2", "ghost"))
# Prompts and search text made of letters and the characters LIKE and SQL treat specially.
ALPHABET = "abAB %_\\'\""
PROMPTS = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(lambda s: s.strip())
SEARCHES = st.text(alphabet=ALPHABET, min_size=0, max_size=4)
PICK = st.integers(min_value=0, max_value=10_000)


def forged_token(sub: str, *, role: str = "authenticated") -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": role, "aud": "authenticated", "iat": now, "exp": now + 600}
    return jwt.encode(claims, WRONG_KEY, algorithm="HS256")


class DirectWorld:
    """The direct transport: a pool on the test database, local files."""

    name = "direct"
    sql = True

    def __init__(self, database_url: str, home: Path) -> None:
        self.home = home
        self.settings = settings_for(database_url, home)
        self.files = local_files(home / "images")
        self._database_url = database_url
        self._anon_pool: Any = None

    def client(self, token: str | None) -> Client:
        return Client(self.settings, access_token=token)

    def interval(self, seconds: float) -> Any:
        return timedelta(seconds=seconds)

    def anon(self) -> DirectTransport:
        """Calls as PostgREST makes them for a request without a user token."""
        if self._anon_pool is None:
            self._anon_pool = open_pool(self._database_url, max_size=2)
        return DirectTransport(self._anon_pool, role="anon", claims={"role": "anon"})

    def no_sql_ran(self, client: Client) -> bool:
        return client._pool is None

    def close(self) -> None:
        if self._anon_pool is not None:
            self._anon_pool.close()


class HostedWorld:
    """The hosted transport: PostgREST, Storage and Auth of the project double over HTTP."""

    name = "hosted"
    sql = False

    def __init__(self, database_url: str, home: Path) -> None:
        self.home = home
        self.project = HostedProject(database_url, home)
        self.files = self.project.files

    def client(self, token: str | None) -> Client:
        return self.project.client(token)

    def interval(self, seconds: float) -> Any:
        # JSON has no interval type: PostgREST takes Postgres' own text form.
        return f"{seconds:g} seconds"

    def no_sql_ran(self, client: Client) -> bool:
        # The double's one connection serves every actor here, so this cannot be told
        # apart; tests/reliability/test_tokens_refused.py checks it one call at a time.
        return True

    def close(self) -> None:
        self.project.close()


World = DirectWorld | HostedWorld


@dataclass
class Expected:
    """A generation as the model expects the database to hold it."""

    owner: str
    prompt: str
    image_url: str
    thumbnail_url: str | None
    updated_at: datetime
    starred: bool = False
    trashed: bool = False
    tags: set[str] = field(default_factory=set)


@dataclass
class Album:
    """A collection: its owner's id, its name and the generations in it."""

    owner: str
    name: str
    items: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Share:
    """One generation or one collection shared by ``owner`` with ``recipient`` (ids)."""

    owner: str
    recipient: str
    generation: str | None
    collection: str | None


@dataclass
class Link:
    """A public link of ``owner`` (id), with the token only its creator was shown."""

    owner: str
    token: str
    generation: str | None
    collection: str | None
    revoked: bool = False


# Organising choices: tags that normalise onto each other, collection and template
# names that differ only in case and spaces, prompts with and without placeholders.
TAG_LISTS = st.lists(
    st.sampled_from(("red", " Red", "BLUE", "green ", "blue")), min_size=1, max_size=3
)
ALBUM_NAMES = st.sampled_from(("Album", " album", "Other"))
TEMPLATE_NAMES = st.sampled_from(("Cat", "cat ", " CAT", "dog"))
TEMPLATE_PROMPTS = st.sampled_from(("a {x} cat", "plain", "{x} and {y}"))
VALUES = st.sampled_from(("v", "{y}", "{x}"))


class OwnershipMachine(RuleBasedStateMachine):
    def __init__(self, world: World, admin: psycopg.Connection[Any], evidence: Evidence) -> None:
        super().__init__()
        self.world = world
        self.admin = admin
        self.evidence = evidence
        self.evidence.add("hypothesis examples")
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.rows: dict[str, Expected] = {}
        self.known: list[str] = []
        self.balance: dict[str, int] = {}
        self.held: dict[str, set[str]] = {}
        self.gone: set[str] = set()
        self.exports = 0
        self.albums: dict[str, Album] = {}
        self.shares: dict[str, Share] = {}
        self.links: dict[str, Link] = {}
        self.templates: dict[tuple[str, str], tuple[str, str]] = {}

    # -- set-up -------------------------------------------------------------------------
    @initialize(credits=st.lists(st.integers(0, 3), min_size=3, max_size=3))
    def sign_up(self, credits: list[int]) -> None:
        """Three users who each saved an image and have 0 to 3 credits left (u1 also holds
        an open reservation), a ghost, and the refused actors' tokens."""
        for name, amount in zip(USERS, credits, strict=True):
            self.users[name] = create_user(self.admin, credits=amount + 1 + (name == "u1"))
            self.balance[name] = amount + 1 + (name == "u1")
            self.held[name] = set()
        ghost = create_user(self.admin, credits=2)
        self.admin.execute("delete from auth.users where id = %s", (ghost.id,))
        self.users["ghost"] = ghost
        self.held["ghost"] = set()
        self.gone.add("ghost")
        u0 = self.users["u0"]
        tokens: dict[str, str | None] = {name: u.token() for name, u in self.users.items()}
        tokens["anon"] = None
        tokens["expired"] = u0.token(ttl=-60)
        tokens["forged"] = forged_token(u0.id)
        tokens["forged_service"] = forged_token(u0.id, role="service_role")
        self.clients = {name: self.world.client(token) for name, token in tokens.items()}
        for name in USERS:
            self.create(name, f"first of {name}")
        self.hold("u1")
        self.seed_organising()

    def seed_organising(self) -> None:
        """Each user files their first image in an album; u0 shares its album with u1,
        u1 shares its first image with u2, and u2 makes a public link to its own."""
        first: dict[str, str] = {}
        album: dict[str, str] = {}
        for name in USERS:
            uid = self.uid(name)
            first[name] = next(i for i, e in self.rows.items() if e.owner == uid)
            rpc = self.rpc_of(name)
            [row] = rpc("create_collection", {"name": "Album"})
            album[name] = str(row["id"])
            self.albums[album[name]] = Album(uid, "Album", {first[name]})
            added = rpc(
                "add_to_collection",
                {"collection_id": row["id"], "generation_ids": [uuid.UUID(first[name])]},
                scalar=True,
            )
            assert added == 1
        for owner, recipient, gen, coll in (
            ("u0", "u1", None, album["u0"]),
            ("u1", "u2", first["u1"], None),
        ):
            args: dict[str, Any] = {"email": self.users[recipient].email}
            args.update({"collection_id": coll} if coll else {"generation_id": gen})
            [row] = self.rpc_of(owner)("share_with", args)
            self.shares[str(row["id"])] = Share(self.uid(owner), self.uid(recipient), gen, coll)
        [row] = self.rpc_of("u2")("create_public_link", {"generation_id": first["u2"]})
        self.links[str(row["id"])] = Link(self.uid("u2"), row["token"], first["u2"], None)

    def teardown(self) -> None:
        for client in self.clients.values():
            client.close()

    # -- the model ----------------------------------------------------------------------
    def uid(self, actor: str) -> str:
        return self.users[actor].id

    def own(self, actor: str) -> dict[str, Expected]:
        if actor in REFUSED:
            return {}
        uid = self.uid(actor)
        return {i: e for i, e in self.rows.items() if e.owner == uid}

    def listed(self, actor: str) -> dict[str, Expected]:
        """The actor's generations in the history (not in the trash)."""
        return {i: e for i, e in self.own(actor).items() if not e.trashed}

    def others(self, actor: str) -> dict[str, Expected]:
        uid = self.users[actor].id if actor in self.users else None
        return {i: e for i, e in self.rows.items() if e.owner != uid}

    def others_held(self, actor: str) -> list[str]:
        return sorted(r for name, held in self.held.items() if name != actor for r in held)

    def target(self, pick: int, pool: list[str]) -> str:
        """One of ``pool`` or, one time in len(pool)+1, an id nobody has."""
        index = pick % (len(pool) + 1)
        return pool[index] if index < len(pool) else str(uuid.uuid4())

    def refused(self, actor: str, what: str, call: Callable[[Client], Any]) -> None:
        """A refused actor gets its error, and (direct) no connection was even opened."""
        client = self.clients[actor]
        with pytest.raises(GenvaultError) as info:
            call(client)
        assert type(info.value) is REFUSED[actor], f"{actor} {what}: {info.value!r}"
        assert self.world.no_sql_ran(client), f"{actor} {what}: SQL ran"
        self.evidence.add("calls by signed-out or forged actors")

    def step(self) -> None:
        self.evidence.add("steps")

    # -- the library's operations -------------------------------------------------------
    @rule(actor=ACTORS, prompt=PROMPTS)
    def create(self, actor: str, prompt: str) -> None:
        self.step()

        def call(c: Client) -> Any:
            return c.create(prompt, model=ScriptedModel(data=PNG))

        if actor in REFUSED:
            return self.refused(actor, "create", call)
        client = self.clients[actor]
        if actor in self.gone:
            with pytest.raises(GenvaultError):
                call(client)
            return None
        if self.balance[actor] == 0:
            with pytest.raises(InsufficientCredits):
                call(client)
            return None
        gen = call(client)
        assert gen.user_id == self.uid(actor)
        assert gen.prompt == prompt.strip()
        self.rows[gen.id] = Expected(
            self.uid(actor), gen.prompt, gen.image_url, gen.thumbnail_url, gen.updated_at
        )
        self.known.append(gen.id)
        self.balance[actor] -= 1
        self.evidence.add("images created")
        return None

    @rule(actor=ACTORS, page_size=st.integers(1, 4))
    def list_history(self, actor: str, page_size: int) -> None:
        self.step()

        def call(c: Client) -> Any:
            return list(c.generations.iter_all(page_size=page_size))

        if actor in REFUSED:
            return self.refused(actor, "list", call)
        gens = call(self.clients[actor])
        ids = [g.id for g in gens]
        assert len(ids) == len(set(ids)), "a page repeated a generation"
        assert set(ids) == set(self.listed(actor))
        keys = [(g.created_at, g.id) for g in gens]
        assert keys == sorted(keys, reverse=True)
        return None

    @rule(actor=ACTORS, text=SEARCHES)
    def search(self, actor: str, text: str) -> None:
        self.step()

        def call(c: Client) -> Any:
            return c.generations.search(text, limit=500)

        if actor in REFUSED and not text.strip():
            # Blank text may be refused before the token is looked at (hosted) or after.
            with pytest.raises((InvalidInput, REFUSED[actor])):
                call(self.clients[actor])
            return None
        if actor in REFUSED:
            return self.refused(actor, "search", call)
        if not text.strip():
            with pytest.raises(InvalidInput):
                call(self.clients[actor])
            return None
        needle = text.strip(" ").lower()
        found = {g.id for g in call(self.clients[actor]).items}
        expected = {i for i, e in self.listed(actor).items() if needle in e.prompt.lower()}
        assert found == expected, (text, found, expected)
        return None

    @rule(actor=ACTORS, pick=PICK)
    def get(self, actor: str, pick: int) -> None:
        self.step()
        target = self.target(pick, self.known)

        def call(c: Client) -> Any:
            return c.generations.get(target)

        if actor in REFUSED:
            return self.refused(actor, "get", call)
        mine = self.own(actor)
        if target not in mine:
            with pytest.raises(NotFound):
                call(self.clients[actor])
            return None
        gen = call(self.clients[actor])
        want = mine[target]
        assert (gen.user_id, gen.prompt, gen.image_url, gen.updated_at) == (
            want.owner,
            want.prompt,
            want.image_url,
            want.updated_at,
        )
        return None

    @rule(actor=ACTORS, picks=st.lists(PICK, min_size=1, max_size=3))
    def delete(self, actor: str, picks: list[int]) -> None:
        self.step()
        targets = [self.target(p, self.known) for p in picks]

        def call(c: Client) -> Any:
            return c.generations.delete(targets)

        if actor in REFUSED:
            return self.refused(actor, "delete", call)
        mine = set(self.own(actor))
        outcomes = call(self.clients[actor])
        assert [(o.id, o.deleted) for o in outcomes] == [(t, t in mine) for t in targets]
        for t in set(targets) & mine:
            self.forget_generation(t)
            self.evidence.add("images deleted")
        return None

    @rule(actor=ACTORS)
    def export(self, actor: str) -> None:
        self.step()
        self.exports += 1
        dest = self.world.home / f"export-{self.exports}"

        def call(c: Client) -> Any:
            return c.export(dest)

        if actor in REFUSED:
            return self.refused(actor, "export", call)
        try:
            result = call(self.clients[actor])
            manifest = json.loads((dest / "manifest.json").read_text())
            mine = self.listed(actor)
            assert result.images == len(mine)
            assert {e["id"] for e in manifest["generations"]} == set(mine)
            for entry in manifest["generations"]:
                data = (dest / entry["file"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == entry["image_sha256"]
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        return None

    @rule(actor=ACTORS)
    def stats(self, actor: str) -> None:
        self.step()

        def call(c: Client) -> Any:
            return c.generations.stats()

        if actor in REFUSED:
            return self.refused(actor, "stats", call)
        figures = call(self.clients[actor])
        assert figures["total"] == len(self.listed(actor))
        expected = None if actor in self.gone else self.balance[actor]
        assert figures["credits"] == expected
        return None

    @rule(actor=ACTORS)
    def credits(self, actor: str) -> None:
        self.step()

        def call(c: Client) -> Any:
            return c.credits.balance(), c.credits.ledger(limit=500)

        if actor in REFUSED:
            return self.refused(actor, "credits", call)
        balance, ledger = call(self.clients[actor])
        assert balance == (0 if actor in self.gone else self.balance[actor])
        theirs = {
            str(r["id"])
            for r in self.admin.execute(
                "select id from public.credit_ledger where user_id = %s", (self.uid(actor),)
            )
        }
        assert {e.id for e in ledger} == theirs
        return None

    @rule(actor=ACTORS)
    def hold(self, actor: str) -> None:
        """A reservation left open, as by a generation still running elsewhere."""
        self.step()
        args = {"idempotency_key": uuid.uuid4().hex}

        def call(c: Client) -> Any:
            return c._user()[0].rpc("reserve_credit", args)

        if actor in REFUSED:
            return self.refused(actor, "reserve", call)
        client = self.clients[actor]
        if actor in self.gone:
            with pytest.raises(GenvaultError):
                call(client)
            return None
        if self.balance[actor] == 0:
            with pytest.raises(InsufficientCredits):
                call(client)
            return None
        [row] = call(client)
        assert row["status"] == "held"
        self.held[actor].add(str(row["reservation_id"]))
        self.balance[actor] -= 1
        return None

    @rule(actor=ACTORS, pick=PICK)
    def release(self, actor: str, pick: int) -> None:
        self.step()
        mine = sorted(self.held.get(actor, set()))
        target = self.target(pick, mine)

        def call(c: Client) -> Any:
            return c._user()[0].rpc("refund_credit", {"reservation_id": target}, scalar=True)

        if actor in REFUSED:
            return self.refused(actor, "refund", call)
        if target not in mine:
            with pytest.raises(NotFound):
                call(self.clients[actor])
            return None
        assert call(self.clients[actor]) is True
        self.held[actor].discard(target)
        self.balance[actor] += 1
        return None

    @rule(actor=ACTORS)
    def sweep(self, actor: str) -> None:
        self.step()
        zero = self.world.interval(0)

        def call(c: Client) -> Any:
            if isinstance(self.world, DirectWorld):
                return c.sweep(older_than=timedelta(0))
            return c._user()[0].rpc("expire_reservations", {"older_than": zero})

        if actor in REFUSED:
            return self.refused(actor, "sweep", call)
        result = call(self.clients[actor])
        mine = self.held[actor]
        if isinstance(self.world, DirectWorld):
            assert (result.refunded, result.files_removed) == (len(mine), 0)
        else:
            assert {str(r["user_id"]) for r in result} <= {self.uid(actor)}
            assert {str(r["reservation_id"]) for r in result} == mine
        if actor not in self.gone:
            self.balance[actor] += len(mine)
        mine.clear()
        return None

    @rule(actor=st.sampled_from(("u2", "ghost", *REFUSED)))
    def delete_account(self, actor: str) -> None:
        self.step()

        def call(c: Client) -> Any:
            return c.delete_account()

        if actor in REFUSED:
            return self.refused(actor, "delete account", call)
        uid = self.uid(actor)
        mine = self.own(actor)
        entries = self.admin.execute(
            "select count(*)::int as n from public.credit_ledger where user_id = %s", (uid,)
        ).fetchone()
        files = self.world.files(uid)
        removed = call(self.clients[actor])
        assert removed["generations"] == len(mine)
        assert removed["files"] == len(files)
        assert entries is not None
        assert removed["ledger_entries"] == entries["n"]
        for gen_id in mine:
            self.forget_generation(gen_id)
        for coll in [c for c, a in self.albums.items() if a.owner == uid]:
            self.forget_album(coll)
        self.shares = {k: v for k, v in self.shares.items() if uid not in (v.owner, v.recipient)}
        self.links = {k: v for k, v in self.links.items() if v.owner != uid}
        self.templates = {k: v for k, v in self.templates.items() if k[0] != uid}
        self.held[actor].clear()
        self.gone.add(actor)
        return None

    # -- organising: stars, trash, tags, collections, shares, links, templates ----------
    def rpc_of(self, actor: str) -> Callable[..., Any]:
        return self.clients[actor]._user()[0].rpc

    def forget_generation(self, gen_id: str) -> None:
        """A generation deleted for good, with its collection items, shares and links."""
        del self.rows[gen_id]
        for album in self.albums.values():
            album.items.discard(gen_id)
        self.shares = {k: v for k, v in self.shares.items() if v.generation != gen_id}
        self.links = {k: v for k, v in self.links.items() if v.generation != gen_id}

    def forget_album(self, coll: str) -> None:
        """A collection deleted, with its shares and links (its images stay)."""
        del self.albums[coll]
        self.shares = {k: v for k, v in self.shares.items() if v.collection != coll}
        self.links = {k: v for k, v in self.links.items() if v.collection != coll}

    def touched(self, gen_ids: set[str]) -> None:
        """The actor's own rows just changed: take their new updated_at."""
        for r in self.admin.execute(
            "select id::text as id, updated_at from public.user_generations"
            " where id = any(%s::uuid[])",
            (sorted(gen_ids),),
        ):
            self.rows[r["id"]].updated_at = r["updated_at"]

    def in_history(self, gen_id: str | None) -> bool:
        return gen_id is not None and gen_id in self.rows and not self.rows[gen_id].trashed

    def shown_by(self, generation: str | None, collection: str | None) -> set[str]:
        """What a share or a link of this target shows now."""
        if generation is not None:
            return {generation} if self.in_history(generation) else set()
        album = self.albums.get(collection or "")
        return {g for g in album.items if self.in_history(g)} if album else set()

    def mine_first(self, actor: str, pool: list[str], owners: dict[str, str]) -> list[str]:
        """``pool`` with the actor's own entries counted three times, so that operations
        that succeed only on one's own things succeed often enough to matter."""
        uid = self.users[actor].id if actor in self.users else None
        return [i for i in pool if owners.get(i) == uid] * 2 + pool

    def gen_owners(self) -> dict[str, str]:
        return {i: e.owner for i, e in self.rows.items()}

    def album_owners(self) -> dict[str, str]:
        return {c: a.owner for c, a in self.albums.items()}

    def ids_arg(self, actor: str, picks: list[int]) -> tuple[list[str], list[uuid.UUID]]:
        pool = self.mine_first(actor, self.known, self.gen_owners())
        targets = [self.target(p, pool) for p in picks]
        return targets, [uuid.UUID(t) for t in targets]

    @rule(actor=ACTORS, picks=st.lists(PICK, min_size=1, max_size=3), on=st.booleans())
    def star(self, actor: str, picks: list[int], on: bool) -> None:
        self.step()
        self.evidence.add("organising calls")
        targets, args = self.ids_arg(actor, picks)

        def call(c: Client) -> Any:
            return c._user()[0].rpc("star_generations", {"generation_ids": args, "starred": on})

        if actor in REFUSED:
            return self.refused(actor, "star", call)
        got = {str(r["star_generations"]) for r in call(self.clients[actor])}
        assert got == set(targets) & set(self.own(actor))
        for gen_id in got:
            self.rows[gen_id].starred = on
        self.touched(got)
        self.evidence.add("stars and unstars")
        return None

    @rule(actor=ACTORS, picks=st.lists(PICK, min_size=1, max_size=3), into=st.booleans())
    def trash(self, actor: str, picks: list[int], into: bool) -> None:
        """Move to the trash, or (into=False) restore from it."""
        self.step()
        self.evidence.add("organising calls")
        targets, args = self.ids_arg(actor, picks)
        fn = "trash_generations" if into else "restore_generations"

        def call(c: Client) -> Any:
            return c._user()[0].rpc(fn, {"generation_ids": args})

        if actor in REFUSED:
            return self.refused(actor, fn, call)
        got = {str(r[fn]) for r in call(self.clients[actor])}
        mine = self.own(actor)
        assert got == {t for t in targets if t in mine and mine[t].trashed is not into}
        for gen_id in got:
            self.rows[gen_id].trashed = into
        self.touched(got)
        self.evidence.add("moves to and from the trash")
        return None

    @rule(
        actor=ACTORS,
        picks=st.lists(PICK, min_size=1, max_size=3),
        tags=TAG_LISTS,
        add=st.booleans(),
    )
    def tag(self, actor: str, picks: list[int], tags: list[str], add: bool) -> None:
        self.step()
        self.evidence.add("organising calls")
        targets, args = self.ids_arg(actor, picks)
        fn = "tag_generations" if add else "untag_generations"

        def call(c: Client) -> Any:
            return c._user()[0].rpc(fn, {"generation_ids": args, "tags": tags}, scalar=True)

        if actor in REFUSED:
            return self.refused(actor, fn, call)
        wanted = {t.strip().lower() for t in tags}
        mine = self.own(actor)
        changes = {
            (g, t)
            for g in set(targets) & set(mine)
            for t in wanted
            if (t in mine[g].tags) is not add
        }
        assert call(self.clients[actor]) == len(changes)
        for g, t in changes:
            (mine[g].tags.add if add else mine[g].tags.discard)(t)
        self.evidence.add("tag changes")
        return None

    @rule(
        actor=ACTORS,
        op=st.integers(0, 4),
        pick=PICK,
        picks=st.lists(PICK, min_size=1, max_size=3),
        name=ALBUM_NAMES,
    )
    def organise(self, actor: str, op: int, pick: int, picks: list[int], name: str) -> None:
        """Create, fill, empty, rename or delete a collection, any user's by id."""
        self.step()
        self.evidence.add("organising calls")
        coll = self.target(pick, self.mine_first(actor, sorted(self.albums), self.album_owners()))
        targets, args = self.ids_arg(actor, picks)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("create_collection", {"name": name}),
            ("add_to_collection", {"collection_id": uuid.UUID(coll), "generation_ids": args}),
            ("remove_from_collection", {"collection_id": uuid.UUID(coll), "generation_ids": args}),
            ("rename_collection", {"collection_id": uuid.UUID(coll), "name": name}),
            ("delete_collection", {"collection_id": uuid.UUID(coll)}),
        ]
        fn, params = calls[op]
        scalar = op in (1, 2, 4)

        def call(c: Client) -> Any:
            return c._user()[0].rpc(fn, params, scalar=scalar)

        if actor in REFUSED:
            return self.refused(actor, fn, call)
        client = self.clients[actor]
        uid = self.uid(actor)
        clean = name.strip()
        album = self.albums.get(coll)
        mine = album is not None and album.owner == uid
        taken = {a.name.lower() for c, a in self.albums.items() if a.owner == uid and c != coll}
        if op == 0:
            if actor in self.gone:
                with pytest.raises(GenvaultError):
                    call(client)
                return None
            if clean.lower() in {a.name.lower() for a in self.albums.values() if a.owner == uid}:
                with pytest.raises(Conflict):
                    call(client)
                return None
            [row] = call(client)
            assert (row["name"], str(row["user_id"])) == (clean, uid)
            self.albums[str(row["id"])] = Album(uid, clean)
            self.evidence.add("collections created")
            return None
        if op == 4:
            assert call(client) is mine
            if mine:
                self.forget_album(coll)
            return None
        if not mine:
            with pytest.raises(NotFound):
                call(client)
            return None
        assert album is not None
        if op == 3:
            if clean.lower() in taken:
                with pytest.raises(Conflict):
                    call(client)
                return None
            [row] = call(client)
            assert (str(row["id"]), row["name"]) == (coll, clean)
            album.name = clean
            return None
        own = set(targets) & set(self.own(actor))
        changed = own - album.items if op == 1 else own & album.items
        assert call(client) == len(changed)
        if op == 1:
            album.items |= changed
        else:
            album.items -= changed
        self.evidence.add("collection items added or removed")
        return None

    @rule(
        actor=ACTORS,
        pick=PICK,
        whom=st.sampled_from(("u0", "u1", "u2", "ghost")),
        whole=st.booleans(),
        shout=st.booleans(),
    )
    def share(self, actor: str, pick: int, whom: str, whole: bool, shout: bool) -> None:
        """Share any user's generation (or, whole, collection) with a user by email."""
        self.step()
        self.evidence.add("organising calls")
        if whole:
            pool = self.mine_first(actor, sorted(self.albums), self.album_owners())
        else:
            pool = self.mine_first(actor, self.known, self.gen_owners())
        target = self.target(pick, pool)
        email = self.users[whom].email
        args: dict[str, Any] = {
            "email": f" {email.upper()}" if shout else email,
            "collection_id" if whole else "generation_id": uuid.UUID(target),
        }

        def call(c: Client) -> Any:
            return c._user()[0].rpc("share_with", args)

        if actor in REFUSED:
            return self.refused(actor, "share", call)
        client = self.clients[actor]
        uid = self.uid(actor)
        if whole:
            owned = target in self.albums and self.albums[target].owner == uid
        else:
            owned = self.in_history(target) and self.rows[target].owner == uid
        if not owned or whom in self.gone:
            with pytest.raises(NotFound):
                call(client)
            return None
        if whom == actor:
            with pytest.raises(InvalidInput):
                call(client)
            return None
        [row] = call(client)
        made = Share(uid, self.uid(whom), None if whole else target, target if whole else None)
        existing = [k for k, v in self.shares.items() if v == made]
        assert existing in ([], [str(row["id"])])
        assert row["recipient_email"] == email
        self.shares[str(row["id"])] = made
        self.evidence.add("shares made")
        return None

    @rule(actor=ACTORS, pick=PICK)
    def unshare(self, actor: str, pick: int) -> None:
        self.step()
        self.evidence.add("organising calls")
        target = self.target(pick, sorted(self.shares))

        def call(c: Client) -> Any:
            return c._user()[0].rpc("unshare", {"share_id": uuid.UUID(target)}, scalar=True)

        if actor in REFUSED:
            return self.refused(actor, "unshare", call)
        share = self.shares.get(target)
        mine = share is not None and share.owner == self.uid(actor)
        assert call(self.clients[actor]) is mine
        if mine:
            del self.shares[target]
        return None

    @rule(actor=ACTORS)
    def look_at_shared(self, actor: str) -> None:
        """A recipient sees exactly what is shared with them now, and who shared it."""
        self.step()
        self.evidence.add("organising calls")

        def call(c: Client) -> Any:
            rpc = c._user()[0].rpc
            return rpc("shared_generations", {"page_size": 1000}), rpc("shared_with_me", {})

        if actor in REFUSED:
            return self.refused(actor, "shared with me", call)
        images, entries = call(self.clients[actor])
        uid = self.uid(actor)
        emails = {u.id: u.email for u in self.users.values()}
        expected: dict[str, str] = {}
        for share in self.shares.values():
            if share.recipient == uid:
                for gen_id in self.shown_by(share.generation, share.collection):
                    expected[gen_id] = emails[share.owner]
        assert {str(r["id"]): r["shared_by"] for r in images} == expected
        for r in images:
            want = self.rows[str(r["id"])]
            assert (r["prompt"], r["image_url"]) == (want.prompt, want.image_url)
        visible = {
            k
            for k, v in self.shares.items()
            if v.recipient == uid and (v.collection is not None or self.in_history(v.generation))
        }
        assert {str(r["id"]) for r in entries} == visible
        self.evidence.add("looks at what was shared")
        return None

    @rule(actor=ACTORS, op=st.integers(0, 2), pick=PICK, whole=st.booleans())
    def public_link(self, actor: str, op: int, pick: int, whole: bool) -> None:
        """Create a link to any user's generation or collection, revoke any link, or open
        any link (without an account, on the direct transport, for refused actors)."""
        self.step()
        self.evidence.add("organising calls")
        if op == 2:
            return self.open_link(actor, pick)
        if op == 0:
            if whole:
                pool = self.mine_first(actor, sorted(self.albums), self.album_owners())
            else:
                pool = self.mine_first(actor, self.known, self.gen_owners())
            target = self.target(pick, pool)
            fn = "create_public_link"
            params: dict[str, Any] = {
                "collection_id" if whole else "generation_id": uuid.UUID(target)
            }
        else:
            target = self.target(pick, sorted(self.links))
            fn, params = "revoke_public_link", {"link_id": uuid.UUID(target)}

        def call(c: Client) -> Any:
            return c._user()[0].rpc(fn, params, scalar=op == 1)

        if actor in REFUSED:
            return self.refused(actor, fn, call)
        client = self.clients[actor]
        uid = self.uid(actor)
        if op == 1:
            link = self.links.get(target)
            mine = link is not None and link.owner == uid and not link.revoked
            assert call(client) is mine
            if mine and link is not None:
                link.revoked = True
            return None
        if whole:
            owned = target in self.albums and self.albums[target].owner == uid
        else:
            owned = self.in_history(target) and self.rows[target].owner == uid
        if not owned:
            with pytest.raises(NotFound):
                call(client)
            return None
        [row] = call(client)
        assert len(row["token"]) == 64
        assert row["token"] not in {link.token for link in self.links.values()}
        self.links[str(row["id"])] = Link(
            uid, row["token"], None if whole else target, target if whole else None
        )
        self.evidence.add("public links created")
        return None

    def open_link(self, actor: str, pick: int) -> None:
        tokens = sorted(link.token for link in self.links.values())
        index = pick % (len(tokens) + 1)
        token = tokens[index] if index < len(tokens) else secrets.token_hex(32)
        args = {"token": token, "page_size": 1000}
        if actor in REFUSED:
            if not isinstance(self.world, DirectWorld):
                return self.refused(
                    actor, "open link", lambda c: c._user()[0].rpc("open_public_link", args)
                )
            rows = self.world.anon().rpc("open_public_link", args)
        else:
            rows = self.rpc_of(actor)("open_public_link", args)
        link = next((v for v in self.links.values() if v.token == token), None)
        expected = (
            self.shown_by(link.generation, link.collection)
            if link is not None and not link.revoked
            else set()
        )
        assert {str(r["id"]) for r in rows} == expected
        self.evidence.add("public links opened")
        return None

    @rule(
        actor=ACTORS,
        op=st.integers(0, 2),
        name=TEMPLATE_NAMES,
        prompt=TEMPLATE_PROMPTS,
        value=VALUES,
    )
    def template(self, actor: str, op: int, name: str, prompt: str, value: str) -> None:
        """Save (replacing by name in any case), fill in, or delete a prompt template."""
        self.step()
        self.evidence.add("organising calls")
        calls: list[tuple[str, dict[str, Any]]] = [
            ("save_template", {"name": name, "prompt": prompt}),
            ("render_template", {"name": name, "vals": {"x": value}}),
            ("delete_template", {"name": name}),
        ]
        fn, params = calls[op]

        def call(c: Client) -> Any:
            return c._user()[0].rpc(fn, params, scalar=op != 1)

        if actor in REFUSED:
            return self.refused(actor, fn, call)
        client = self.clients[actor]
        key = (self.uid(actor), name.strip().lower())
        saved = self.templates.get(key)
        if op == 0:
            if actor in self.gone:
                with pytest.raises(GenvaultError):
                    call(client)
                return None
            result = call(client)
            assert (result["name"], result["prompt"]) == (name.strip(), prompt)
            self.templates[key] = (name.strip(), prompt)
            self.evidence.add("templates saved")
        elif op == 2:
            assert call(client) is (saved is not None)
            self.templates.pop(key, None)
        elif saved is None:
            with pytest.raises(NotFound):
                call(client)
        elif saved[1] != "a {x} cat":
            with pytest.raises(InvalidInput):
                call(client)
        else:
            [row] = call(client)
            assert row["prompt"] == f"a {value} cat"
        return None

    # -- other users' ids through every public function ---------------------------------
    @rule(actor=WITH_SQL, attack=st.integers(0, 12), pick=PICK)
    def call_functions_with_others_ids(self, actor: str, attack: int, pick: int) -> None:
        self.step()
        self.evidence.add("public function calls with another user's ids")
        client = self.clients[actor]
        rpc = client._user()[0].rpc
        uid = self.uid(actor)
        others = self.others(actor)
        other_ids = sorted(others)
        victims = [u for name, u in self.users.items() if name != actor]
        victim = victims[pick % len(victims)]
        if attack == 0:  # refund someone else's open reservation
            target = self.target(pick, self.others_held(actor))
            with pytest.raises(NotFound):
                rpc("refund_credit", {"reservation_id": uuid.UUID(target)}, scalar=True)
        elif attack == 1:  # spend someone else's reservation on a row of one's own
            target = self.target(pick, self.others_held(actor))
            with pytest.raises(NotFound):
                rpc("record_generation", self._record_args(target, f"{uid}/planted.webp"))
        elif attack == 2:  # record one's own reservation pointing into another's folder
            mine = sorted(self.held[actor])
            target = self.target(pick, mine)
            expected = InvalidInput if target in mine else NotFound
            with pytest.raises(expected):
                rpc("record_generation", self._record_args(target, f"{victim.id}/planted.webp"))
        elif attack == 3:
            assert rpc("get_generation", {"generation_id": self._uuid(pick, other_ids)}) == []
        elif attack == 4:
            ids = [uuid.UUID(i) for i in other_ids[:3]] or [uuid.uuid4()]
            assert rpc("delete_generations", {"generation_ids": ids}) == []
        elif attack == 5:
            paths = [p for e in others.values() for p in (e.image_url, e.thumbnail_url) if p]
            paths = paths or [f"{victim.id}/nothing.webp"]
            assert rpc("referenced_paths", {"paths": paths}) == []
        elif attack == 6:
            rows = rpc("list_generations", {"page_size": 1000})
            assert {str(r["user_id"]) for r in rows} <= {uid}
            assert {str(r["id"]) for r in rows} == set(self.listed(actor))
        elif attack == 7:
            text = next(iter(others.values())).prompt if others else "a"
            rows = rpc("search_generations", {"search_text": text, "page_size": 1000})
            assert {str(r["user_id"]) for r in rows} <= {uid}
        elif attack == 8:
            rows = rpc("my_ledger", {"max_rows": 1000})
            assert {str(r["user_id"]) for r in rows} <= {uid}
        elif attack == 9:
            with pytest.raises(PermissionDenied):
                rpc("grant_credits", {"target_user": uid, "amount": 100}, scalar=True)
        elif attack == 10:
            fn, args = self._operator_call(pick, victim)
            with pytest.raises(PermissionDenied):
                rpc(fn, args)
        elif attack == 12:  # reserve a credit under another user's generation id
            # The database picks every generation id: naming one is no call at all,
            # and the answer is the same whether the id exists or not.
            target = self._uuid(pick, other_ids)
            args = {"idempotency_key": uuid.uuid4().hex, "generation_id": target}
            with pytest.raises(GenvaultError) as refused:
                rpc("reserve_credit", args)
            assert not isinstance(refused.value, Conflict)
        else:  # the expiry sweep of everyone's reservations refunds only the caller's
            rows = rpc("expire_reservations", {"older_than": self.world.interval(0)})
            assert {str(r["user_id"]) for r in rows} <= {uid}
            assert {str(r["reservation_id"]) for r in rows} == self.held[actor]
            if actor not in self.gone:
                self.balance[actor] += len(self.held[actor])
            self.held[actor].clear()

    def _uuid(self, pick: int, pool: list[str]) -> uuid.UUID:
        return uuid.UUID(self.target(pick, pool))

    def _record_args(self, reservation: str, image_url: str) -> dict[str, Any]:
        return {
            "reservation_id": uuid.UUID(reservation),
            "prompt": "planted",
            "image_url": image_url,
            "model": "test/planted",
        }

    def _operator_call(self, pick: int, victim: User) -> tuple[str, dict[str, Any]]:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("admin_images_per_user", {"max_rows": 10}),
            ("admin_find_user", {"who": victim.email}),
            ("admin_popular_prompts", {"max_rows": 10}),
            ("admin_storage_estimate", {}),
            ("admin_trends", {"bucket": "day", "periods": 7}),
            ("admin_purge_older_than", {"age": self.world.interval(86400), "dry_run": True}),
        ]
        return calls[pick % len(calls)]

    # -- SQL as the authenticated role (direct transport) -------------------------------
    @precondition(lambda self: self.world.sql)
    @rule(actor=WITH_SQL, statement=st.integers(0, 25), pick=PICK)
    def sql_as_a_user(self, actor: str, statement: int, pick: int) -> None:
        self.step()
        self.evidence.add("SQL statements as the authenticated role")
        uid = self.uid(actor)
        victims = [u for name, u in self.users.items() if name != actor]
        victim = victims[pick % len(victims)]
        theirs = [i for i, e in self.rows.items() if e.owner == victim.id]
        victim_gen = self.target(pick, theirs)
        victim_file = next(
            (e.image_url for e in self.rows.values() if e.owner == victim.id),
            f"{victim.id}/nothing.webp",
        )
        victim_albums = [c for c, a in self.albums.items() if a.owner == victim.id]
        params = {
            "me": uid,
            "victim": victim.id,
            "victim_gen": victim_gen,
            "victim_file": victim_file,
            "my_file": f"{uid}/mine.webp",
            "victim_album": self.target(pick, victim_albums),
        }
        mine_or_shared = {k for k, v in self.shares.items() if uid in (v.owner, v.recipient)}
        cases: list[tuple[str, Callable[[str | None, list[dict[str, Any]], int], None]]] = [
            (
                "select user_id from public.user_generations",
                lambda err, rows, n: self._only_own(err, rows, uid, len(self.own(actor))),
            ),
            (
                "select user_id from public.credit_ledger",
                lambda err, rows, n: self._only_own(err, rows, uid, None),
            ),
            (
                "select user_id from public.user_credits",
                lambda err, rows, n: self._only_own(err, rows, uid, 0 if actor in self.gone else 1),
            ),
            (
                "insert into public.user_generations (user_id, prompt, image_url)"
                " values (%(victim)s, 'planted', %(victim)s || '/planted.webp')",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "insert into public.user_generations (user_id, prompt, image_url)"
                " values (%(me)s, 'pointing at a file of another user', %(victim_file)s)",
                lambda err, rows, n: self._refused(err, {"23514", "42501"}),
            ),
            # Users write no table directly: every write is a function.
            (
                "update public.user_generations set user_id = %(victim)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "update public.user_generations set prompt = 'changed', image_url = %(my_file)s"
                " where id = %(victim_gen)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "update public.user_generations set prompt = 'changed' where user_id = %(me)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "delete from public.user_generations where user_id = %(victim)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "update public.user_credits set credits = credits + 100",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "insert into public.credit_ledger (user_id, delta, reason)"
                " values (%(me)s, 100, 'grant')",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "delete from public.credit_ledger where user_id = %(victim)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "select id, email from auth.users",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "select * from public.admin_images_per_user(100)",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            # organising.sql: a share shows images through functions, never the tables.
            (
                "update public.user_generations set starred = true, trashed_at = now()"
                " where id = %(victim_gen)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "select user_id from public.collections",
                lambda err, rows, n: self._only_own(
                    err, rows, uid, sum(a.owner == uid for a in self.albums.values())
                ),
            ),
            (
                "select user_id from public.collection_items",
                lambda err, rows, n: self._only_own(err, rows, uid, None),
            ),
            (
                "select user_id from public.generation_tags",
                lambda err, rows, n: self._only_own(err, rows, uid, None),
            ),
            (
                "select user_id from public.prompt_templates",
                lambda err, rows, n: self._only_own(
                    err, rows, uid, sum(k[0] == uid for k in self.templates)
                ),
            ),
            (
                "select owner_id as user_id, id::text as id from public.public_links",
                lambda err, rows, n: self._only_own(
                    err, rows, uid, sum(v.owner == uid for v in self.links.values())
                ),
            ),
            (
                "select id::text as id from public.shares",
                lambda err, rows, n: self._rows_are(err, {r["id"] for r in rows}, mine_or_shared),
            ),
            (
                "update public.collections set name = 'taken over' where user_id <> %(me)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "delete from public.collection_items where user_id <> %(me)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "insert into public.collection_items"
                " (collection_id, generation_id, user_id, generation_created_at)"
                " values (%(victim_album)s, %(victim_gen)s, %(me)s, now())",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "insert into public.generation_tags"
                " (generation_id, tag, user_id, generation_created_at)"
                " select %(victim_gen)s, t, %(me)s, now() from unnest(array['red', 'blue']) t",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "delete from public.generation_tags where user_id <> %(me)s",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
            (
                "delete from public.shares",
                lambda err, rows, n: self._refused(err, {"42501"}),
            ),
        ]
        query, check = cases[statement]
        user = self.users[actor]
        error: str | None = None
        rows: list[dict[str, Any]] = []
        count = 0
        try:
            with acting_as(self.admin, "authenticated", user_claims(user)):
                cur = self.admin.execute(query, params)
                rows = list(cur.fetchall()) if cur.description else []
                count = cur.rowcount
                raise psycopg.Rollback
        except psycopg.Error as exc:
            error = exc.sqlstate or "unknown"
        check(error, rows, count)

    @staticmethod
    def _only_own(
        error: str | None, rows: list[dict[str, Any]], uid: str, count: int | None
    ) -> None:
        assert error is None, error
        assert {str(r["user_id"]) for r in rows} <= {uid}
        if count is not None:
            assert len(rows) == count

    @staticmethod
    def _refused(error: str | None, codes: set[str]) -> None:
        assert error in codes, f"expected one of {sorted(codes)}, got {error}"

    @staticmethod
    def _rows_are(error: str | None, found: set[str], expected: set[str]) -> None:
        assert error is None, error
        assert found == expected

    # -- nobody signed in, on the direct transport: no function is granted to anon ------
    @precondition(lambda self: self.world.sql)
    @rule(call=st.integers(0, 13))
    def anon_calls(self, call: int) -> None:
        self.step()
        assert isinstance(self.world, DirectWorld)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("list_generations", {}),
            ("my_credits", {}),
            ("reserve_credit", {"idempotency_key": "anon"}),
            ("get_generation", {"generation_id": uuid.uuid4()}),
            ("delete_generations", {"generation_ids": [uuid.uuid4()]}),
            ("expire_reservations", {"older_than": timedelta(0)}),
            ("delete_my_account", {}),
            ("grant_credits", {"target_user": self.uid("u0"), "amount": 5}),
            ("find_generations", {}),
            ("star_generations", {"generation_ids": [uuid.uuid4()]}),
            ("create_collection", {"name": "anon"}),
            ("share_with", {"email": self.users["u0"].email, "generation_id": uuid.uuid4()}),
            ("shared_generations", {}),
            ("save_template", {"name": "anon", "prompt": "p"}),
        ]
        fn, args = calls[call]
        with pytest.raises(PermissionDenied):
            self.world.anon().rpc(fn, args)
        self.evidence.add("calls by signed-out or forged actors")

    # -- the whole database against the model, after every step -------------------------
    @invariant()
    def database_matches_the_model(self) -> None:
        for name, user in self.users.items():
            found = books(self.admin, user.id, self.world.files)
            if name in self.gone:
                account = self.admin.execute(
                    "select count(*)::int as n from auth.users where id = %s", (user.id,)
                ).fetchone()
                assert account is not None
                assert account["n"] == 0
                assert (found.balance, found.ledger_entries, found.rows, found.files) == (
                    None,
                    0,
                    {},
                    set(),
                ), f"{name}'s account is gone, yet data of it remains"
                continue
            expected = {
                i: (e.prompt, e.image_url, e.thumbnail_url, e.updated_at)
                for i, e in self.own(name).items()
            }
            actual = {
                i: (r["prompt"], r["image_url"], r["thumbnail_url"], r["updated_at"])
                for i, r in found.rows.items()
            }
            assert actual == expected, f"{name}'s generations changed"
            assert found.balance == self.balance[name], f"{name}'s balance changed"
            assert found.ledger_sum == found.balance, f"{name}'s ledger does not add up"
            assert found.open_reservations == len(self.held[name])
            assert found.files == found.referenced(), f"{name}'s files and rows differ"

    @invariant()
    def each_user_sees_only_their_own_and_what_is_shared(self) -> None:
        """After every step, as each user (and as a visitor holding each link's token):
        the history is their own, shares show exactly what is shared with them now, and
        each link exactly what it points at, unless revoked."""
        if not self.users:
            return
        emails = {u.id: u.email for u in self.users.values()}
        for name, user in self.users.items():
            if name in self.gone:
                continue
            with acting_as(self.admin, "authenticated", user_claims(user)):
                found = self.admin.execute(
                    "select id::text as id, user_id from public.find_generations(page_size => 1000)"
                ).fetchall()
                shared = self.admin.execute(
                    "select id::text as id, shared_by from public.shared_generations(null, 1000)"
                ).fetchall()
            assert {(r["id"], r["user_id"]) for r in found} == {
                (i, user.id) for i in self.listed(name)
            }
            expected: dict[str, str] = {}
            for share in self.shares.values():
                if share.recipient == user.id:
                    for gen_id in self.shown_by(share.generation, share.collection):
                        expected[gen_id] = emails[share.owner]
            assert {r["id"]: r["shared_by"] for r in shared} == expected, name
        for link in self.links.values():
            with acting_as(self.admin, "anon"):
                opened = self.admin.execute(
                    "select id::text as id from public.open_public_link(%s, 1000)", (link.token,)
                ).fetchall()
            want = set() if link.revoked else self.shown_by(link.generation, link.collection)
            assert {r["id"] for r in opened} == want

    @invariant()
    def organising_matches_the_model(self) -> None:
        """Stars, trash, tags, collections, shares, links and templates of every user of
        this example are exactly what the model predicts."""
        if not self.users:
            return
        uids = [u.id for u in self.users.values()]
        one = self.admin.execute
        flags = {
            r["id"]: (r["starred"], r["trashed"])
            for r in one(
                "select id::text as id, starred, trashed_at is not null as trashed"
                " from public.user_generations where user_id = any(%s)",
                (uids,),
            )
        }
        assert flags == {i: (e.starred, e.trashed) for i, e in self.rows.items()}
        tags = {
            (r["g"], r["tag"])
            for r in one(
                "select generation_id::text as g, tag from public.generation_tags"
                " where user_id = any(%s)",
                (uids,),
            )
        }
        assert tags == {(i, t) for i, e in self.rows.items() for t in e.tags}
        albums = {
            r["id"]: (r["user_id"], r["name"])
            for r in one(
                "select id::text as id, user_id, name from public.collections"
                " where user_id = any(%s)",
                (uids,),
            )
        }
        assert albums == {c: (a.owner, a.name) for c, a in self.albums.items()}
        items = {
            (r["c"], r["g"])
            for r in one(
                "select collection_id::text as c, generation_id::text as g"
                " from public.collection_items where user_id = any(%s)",
                (uids,),
            )
        }
        assert items == {(c, g) for c, a in self.albums.items() for g in a.items}
        shares = {
            r["id"]: Share(r["owner_id"], r["recipient_id"], r["g"], r["c"])
            for r in one(
                "select id::text as id, owner_id, recipient_id, generation_id::text as g,"
                " collection_id::text as c from public.shares"
                " where owner_id = any(%s) or recipient_id = any(%s)",
                (uids, uids),
            )
        }
        assert shares == self.shares
        links = {
            r["id"]: (r["owner_id"], bytes(r["token_sha256"]), r["g"], r["c"], r["revoked"])
            for r in one(
                "select id::text as id, owner_id, token_sha256, generation_id::text as g,"
                " collection_id::text as c, revoked_at is not null as revoked"
                " from public.public_links where owner_id = any(%s)",
                (uids,),
            )
        }
        assert links == {
            k: (
                v.owner,
                hashlib.sha256(v.token.encode()).digest(),
                v.generation,
                v.collection,
                v.revoked,
            )
            for k, v in self.links.items()
        }
        templates = {
            (r["user_id"], r["key"]): (r["name"], r["prompt"])
            for r in one(
                "select user_id, lower(name) as key, name, prompt from public.prompt_templates"
                " where user_id = any(%s)",
                (uids,),
            )
        }
        assert templates == self.templates


@pytest.fixture(params=["direct", "hosted"])
def world(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Any:
    home = tmp_path / "vault"
    home.mkdir()
    made: World = (
        DirectWorld(database_url, home)
        if request.param == "direct"
        else HostedWorld(database_url, home)
    )
    yield made
    made.close()


def test_random_actors_see_and_change_only_their_own(
    world: World, admin: psycopg.Connection[Any], evidence: Evidence
) -> None:
    """Random sequences of create, list, search, get, delete, export, stats, credits,
    reservations, sweeps, account deletion, public functions called with other users'
    ids and SQL as the authenticated role, by 3 users, a deleted user's valid token,
    nobody, an expired token and two forged tokens, against a model of each actor's
    rights; after every step the whole database and the stored files must equal it."""
    run_state_machine_as_test(
        lambda: OwnershipMachine(world, admin, evidence), settings=fuzz_settings()
    )
