"""Text that is not valid Unicode is refused at every edge, before anything is reserved or written.

A byte that is not UTF-8 in `gen`'s arguments (a Latin-1 terminal typing "café")
reaches Python as a lone surrogate ("caf\\udce9"), which no database can store.
Each promise below is checked where such text comes in: the `gen` command run
as a real process with the raw byte in its argv, the library on both
transports, the transports' own backstop, and the web gallery's addresses and
forms. Every refusal is one InvalidInput naming the field, and leaves the
balance, the ledger, the history and the stored files as they were.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from genvault import Client, HistoryFilter, InvalidInput
from genvault._hosted import HostedTransport, SupabaseStorage
from genvault._storage import LocalStorage, Storage
from genvault._transport import DirectTransport, Transport, open_pool
from tests.support.cli import GEN_SCRIPT, Gen, as_url, script_env
from tests.support.hosted import PROJECT, HostedBackend
from tests.support.library import ScriptedModel, client_for, png_bytes
from tests.support.users import create_user, user_claims
from tests.support.web import Gallery, csrf

RAW = b"caf\xe9"
"""The bytes a Latin-1 terminal sends for "café"."""
BAD = os.fsdecode(RAW)
"""What Python makes of them: "caf\\udce9"."""
NOT_TEXT = "is not valid text (it contains bytes that are not UTF-8)"


# -- what a user has, before and after a refused call --------------------------------


def state(gv: Client, storage: Storage, user_id: str) -> dict[str, Any]:
    """Everything a refused call must leave as it was, read through the library."""
    history = gv.generations
    return {
        "balance": gv.credits.balance(),
        "ledger": [(e.delta, e.reason) for e in gv.credits.ledger(limit=500)],
        "history": [g.id for g in history.find(limit=500).items],
        "trash": [g.id for g in history.find(HistoryFilter(trash=True), limit=500).items],
        "tags": [(t.tag, t.images) for t in history.tags()],
        "collections": [(c.name, c.images) for c in gv.collections.list()],
        "templates": [(t.name, t.prompt, t.params) for t in gv.templates.list()],
        "shares": [s.id for s in gv.sharing.shares()],
        "files": sorted(o.path for o in storage.list(user_id)),
    }


# -- the gen command ---------------------------------------------------------------


@dataclass
class CliUser:
    """A signed-in local user of the `gen` command, with one image, one template and a friend."""

    gen: Gen
    user_id: str
    image: str
    friend: str
    env: dict[str, str]

    def run(self, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        """The installed `gen` script, as its own process, with ``args`` as raw argv bytes."""
        argv = [os.fsencode(GEN_SCRIPT), *(os.fsencode(a) for a in args)]
        return subprocess.run(argv, env=self.env, capture_output=True, timeout=120, check=False)

    def state(self) -> dict[str, Any]:
        with Client() as gv:
            return state(gv, LocalStorage(gv.settings.home / "images"), self.user_id)


@pytest.fixture
def cli_user(
    database_url: str,
    isolated_env: Path,
    admin: psycopg.Connection[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> CliUser:
    gen = Gen(database_url, isolated_env)
    email = gen.login()
    image = gen.create("a red fox in snow")["id"]
    gen("template", "save", "beast", "a {animal} in snow")
    row = admin.execute("select id from auth.users where email = %s", (email,)).fetchone()
    assert row is not None
    friend = create_user(admin).email
    # C.UTF-8: Python reads argv as UTF-8 and keeps the byte it cannot read as a surrogate.
    env = script_env(DATABASE_URL=as_url(database_url), LC_ALL="C.UTF-8", LANG="C.UTF-8")
    monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])  # for the library's own look
    return CliUser(gen, str(row["id"]), image, friend, env)


CLI_CASES: list[tuple[str, list[str | bytes], str]] = [
    ("create", ["create", RAW], "the prompt"),
    ("create --model", ["create", "a fox", "--model", b"acme/" + RAW], "the model name"),
    ("create --set", ["create", "--template", "beast", "--set", b"animal=" + RAW], "{animal}"),
    ("search", ["search", RAW], "the search text"),
    ("list --search", ["list", "--search", RAW], "the search text"),
    ("list --model", ["list", "--model", b"acme/" + RAW], "the model filter"),
    ("list --tag", ["list", "--tag", RAW], "the tag"),
    ("collection create", ["collection", "create", RAW], "the collection name"),
    ("tag --add", ["tag", "{image}", "--add", RAW], "the tag"),
    ("template save (name)", ["template", "save", RAW, "a {animal}"], "the template name"),
    ("template save (prompt)", ["template", "save", "beast", b"a " + RAW], "prompt"),
    ("share", ["share", "{image}", b"ann" + RAW + b"@example.test"], "the email address"),
    ("share --collection", ["share", "--collection", RAW, "{friend}"], "the collection name"),
]


@pytest.mark.parametrize(
    ("args", "field"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_gen_refuses_argv_that_is_not_utf8(
    cli_user: CliUser, args: list[str | bytes], field: str
) -> None:
    before = cli_user.state()
    filled = [
        a.replace("{image}", cli_user.image).replace("{friend}", cli_user.friend)
        if isinstance(a, str)
        else a
        for a in args
    ]
    done = cli_user.run(*filled)
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, out + err
    assert field in err, err
    assert NOT_TEXT in err, err
    assert "retype it" in err
    assert "bug in genvault" not in err
    assert "Traceback" not in err + out
    assert cli_user.state() == before


def test_gen_still_takes_utf8_argv(cli_user: CliUser) -> None:
    """The same word typed in UTF-8 is ordinary text: stored and found again."""
    made = cli_user.run("create", "café au lait".encode(), "--json")
    assert made.returncode == 0, made.stderr.decode()
    found = cli_user.run("search", "CAFÉ".encode())
    assert found.returncode == 0
    assert "café au lait" in found.stdout.decode()


# -- the library, on both transports -----------------------------------------------


@dataclass
class Member:
    """A signed-in user of the library with one image, one template and one collection."""

    gv: Client
    transport: Transport
    storage: Storage
    user_id: str
    image: str
    friend: str

    def state(self) -> dict[str, Any]:
        return state(self.gv, self.storage, self.user_id)


def _furnish(gv: Client) -> str:
    image = gv.create("a red fox in snow", model=ScriptedModel()).id
    gv.templates.save("beast", "a {animal} in snow")
    gv.collections.create("Foxes")
    return image


@pytest.fixture(params=["direct", "hosted"])
def member(
    request: pytest.FixtureRequest,
    make_user: Any,
    tmp_path: Path,
    admin: psycopg.Connection[dict[str, Any]],
) -> Iterator[Member]:
    friend = create_user(admin).email if PROJECT is None else "nobody@example.test"
    if request.param == "direct":
        database_url = request.getfixturevalue("database_url")
        user = make_user(credits=5)
        with client_for(user, database_url, tmp_path / "data") as gv:
            pool = open_pool(database_url, max_size=2)
            try:
                transport = DirectTransport(pool, role="authenticated", claims=user_claims(user))
                storage = LocalStorage(tmp_path / "data" / "images")
                yield Member(gv, transport, storage, user.id, _furnish(gv), friend)
            finally:
                pool.close()
        return
    backend = HostedBackend(tmp_path, None if PROJECT else request.getfixturevalue("database_url"))
    try:
        account = backend.account(credits=5)
        settings = replace(backend.settings, home=tmp_path / "member")
        with Client(settings, http_client=backend.http) as gv:
            session = gv.sign_in(account.email, account.password)
            assert session.access_token is not None
            client = backend.client()
            transport = HostedTransport(client, session.access_token)
            storage = SupabaseStorage(client, session.access_token, settings.bucket)
            yield Member(gv, transport, storage, session.user_id, _furnish(gv), friend)
    finally:
        backend.close()


LIBRARY_CASES: dict[str, tuple[Callable[[Member, ScriptedModel], Any], str]] = {
    "create": (lambda m, model: m.gv.create(BAD, model=model), "the prompt"),
    "create idempotency key": (
        lambda m, model: m.gv.create("a fox", model=model, idempotency_key=BAD),
        "the idempotency key",
    ),
    "create model name": (
        lambda m, model: m.gv.create("a fox", model=ScriptedModel(name=f"acme/{BAD}")),
        "the model name",
    ),
    "create template value": (
        lambda m, model: m.gv.create(template="beast", values={"animal": BAD}, model=model),
        "{animal}",
    ),
    "save prompt": (lambda m, model: m.gv.save(BAD, png_bytes()), "the prompt"),
    "save params": (
        lambda m, model: m.gv.save("a fox", png_bytes(), params={"notes": [BAD]}),
        "image settings",
    ),
    "search": (lambda m, model: m.gv.generations.search(BAD), "the search text"),
    "find text": (lambda m, model: m.gv.generations.find(HistoryFilter(text=BAD)), "search text"),
    "find model": (
        lambda m, model: m.gv.generations.find(HistoryFilter(model=BAD)),
        "the model filter",
    ),
    "find tags": (lambda m, model: m.gv.generations.find(HistoryFilter(tags=(BAD,))), "the tag"),
    "tag": (lambda m, model: m.gv.generations.tag([m.image], ["snow", BAD]), "the tag"),
    "untag": (lambda m, model: m.gv.generations.untag([m.image], [BAD]), "the tag"),
    "collection create": (lambda m, model: m.gv.collections.create(BAD), "the collection name"),
    "collection rename": (
        lambda m, model: m.gv.collections.rename("Foxes", BAD),
        "the collection name",
    ),
    "collection by name": (
        lambda m, model: m.gv.collections.add(BAD, [m.image]),
        "the collection name",
    ),
    "template name": (lambda m, model: m.gv.templates.save(BAD, "a fox"), "the template name"),
    "template prompt": (
        lambda m, model: m.gv.templates.save("beast", f"a {BAD}"),
        "the template prompt",
    ),
    "template model": (
        lambda m, model: m.gv.templates.save("beast", "a fox", model=BAD),
        "the model name",
    ),
    "template settings": (
        lambda m, model: m.gv.templates.save("beast", "a fox", params={"style": BAD}),
        "template settings",
    ),
    "template delete": (lambda m, model: m.gv.templates.delete(BAD), "the template name"),
    "template render": (
        lambda m, model: m.gv.templates.render("beast", {"animal": BAD}),
        "{animal}",
    ),
    "share": (
        lambda m, model: m.gv.sharing.share(f"ann{BAD}@example.test", generation_id=m.image),
        "the email address",
    ),
}


@pytest.mark.parametrize("case", list(LIBRARY_CASES))
def test_library_refuses_text_that_is_not_utf8(member: Member, case: str) -> None:
    call, field = LIBRARY_CASES[case]
    model = ScriptedModel()
    before = member.state()
    with pytest.raises(InvalidInput) as refused:
        call(member, model)
    assert field in refused.value.message
    assert NOT_TEXT in refused.value.message
    assert refused.value.hint
    assert "retype it" in refused.value.hint
    assert model.calls == 0
    assert member.state() == before


def test_library_refuses_nul_as_well(member: Member) -> None:
    """NUL is the other character no database text holds: refused the same way."""
    before = member.state()
    for call in (
        lambda: member.gv.collections.create("Fox\x00es"),
        lambda: member.gv.templates.save("beast", "a fox", params={"style": "\x00"}),
        lambda: member.gv.sharing.share("ann\x00@example.test", generation_id=member.image),
    ):
        with pytest.raises(InvalidInput, match="NUL"):
            call()
    assert member.state() == before


# -- the transports' backstop --------------------------------------------------------


def test_transport_refuses_any_argument_that_is_not_utf8(member: Member) -> None:
    """Whatever the entry points miss, the transport refuses before the call goes out,
    in nested settings and lists as well as in plain arguments."""
    before = member.state()
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("create_collection", {"name": BAD}, "the name"),
        (
            "save_template",
            {"name": "beast", "prompt": "a fox", "model": None, "params": {"style": [1, BAD]}},
            "a value in the params",
        ),
        (
            "save_template",
            {"name": "b", "prompt": "a", "model": None, "params": {BAD: 1}},
            "a value in the params",
        ),
        (
            "tag_generations",
            {"generation_ids": [member.image], "tags": ["ok", BAD]},
            "a value in the tags",
        ),
        ("referenced_paths", {"paths": [f"{member.user_id}/{BAD}.webp"]}, "a value in the paths"),
    ]
    for fn, args, field in calls:
        with pytest.raises(InvalidInput) as refused:
            member.transport.rpc(fn, args)
        assert field in refused.value.message
        assert NOT_TEXT in refused.value.message
    assert member.state() == before
    # The backstop lets good text through unchanged, accents and all.
    made = member.transport.rpc("create_collection", {"name": "Café"})
    assert made[0]["name"] == "Café"


def test_stored_paths_that_are_not_utf8_are_refused_not_reported_as_a_bug(member: Member) -> None:
    """A path listed from storage goes straight to a query; no entry point checks it."""
    with pytest.raises(InvalidInput, match="a value in the paths is not valid text"):
        member.gv.generations.unreferenced([f"{member.user_id}/{BAD}.webp"])


# -- the web gallery -----------------------------------------------------------------


def _post_form(g: Gallery, path: str, body: bytes, accept: str) -> httpx.Response:
    token, cookies = csrf(g.url)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": accept,
        "x-csrf-token": token,
    }
    return httpx.post(g.url + path, content=body, headers=headers, cookies=cookies)


def _web_state(g: Gallery) -> dict[str, Any]:
    return state(g.client, LocalStorage(g.client.settings.home / "images"), g.user.id)


@pytest.mark.parametrize(
    "query",
    ["/history?q=caf%E9", "/history?model=acme%2F%FF", "/history/cards?tag=%E9t%E9", "/?made=%C3"],
)
def test_web_refuses_an_address_that_is_not_utf8(gallery: Any, query: str) -> None:
    g: Gallery = gallery()
    as_json = httpx.get(g.url + query, headers={"accept": "application/json"})
    assert as_json.status_code == 400
    answer = as_json.json()
    assert answer["title"] == "Please check your input"
    assert "in the address " + NOT_TEXT in answer["error"]
    assert "retype it" in answer["hint"]
    page = httpx.get(g.url + query, headers={"accept": "text/html"})
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "in the address is not valid text" in page.text


def test_web_reads_utf8_addresses_as_before(gallery: Any) -> None:
    g: Gallery = gallery()
    g.make("café au lait")
    found = httpx.get(g.url + "/history?q=caf%C3%A9", headers={"accept": "text/html"})
    assert found.status_code == 200
    assert "café au lait" in found.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", b"prompt=caf%E9&aspect_ratio=1%3A1"),
        ("/generate", b"prompt=caf\xe9&aspect_ratio=1%3A1"),
        ("/collections", b"name=Caf%E9"),
        ("/generations/{image}/tags", b"tags=%E9t%E9"),
        ("/generations/{image}/tags", b"t%E9gs=snow"),
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_web_refuses_a_form_that_is_not_utf8(
    gallery: Any, path: str, body: bytes, accept: str
) -> None:
    g: Gallery = gallery()
    image = g.make("a red fox in snow")
    before = _web_state(g)
    refused = _post_form(g, path.format(image=image.id), body, accept)
    assert refused.status_code == 400
    if accept == "text/html":
        assert "in the form is not valid text" in refused.text
    else:
        assert "in the form " + NOT_TEXT in refused.json()["error"]
    assert _web_state(g) == before


def test_web_takes_utf8_forms_as_before(gallery: Any) -> None:
    g: Gallery = gallery()
    made = _post_form(g, "/collections", b"name=Caf%C3%A9", "application/json")
    assert made.status_code == 201
    assert made.json()["name"] == "Café"
