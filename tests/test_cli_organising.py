"""The `gen` commands that organise a history: trash, stars, tags, collections,
sharing, public links and prompt templates, against the real test database.

Each test signs in as fresh local users; outputs are compared whole after
normalising ids, times and paths. Every refusal is checked to leave the data
as it was.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

import psycopg
import pytest

from tests.support.cli import GEN_SCRIPT, Gen, script_env
from tests.support.database import backdate

NEW_COMMANDS = {
    "trash", "trash list", "trash empty", "restore", "star", "unstar", "tag", "tags",
    "collection", "collection create", "collection rename", "collection delete",
    "collection list", "collection add", "collection remove", "collection show",
    "share", "share add", "share list", "unshare", "shared", "shared list", "shared download",
    "link", "link create", "link list", "link revoke", "link open",
    "template", "template save", "template list", "template delete", "admin purge-trash",
}  # fmt: skip


@pytest.fixture
def gen(database_url: str, isolated_env: Path) -> Gen:
    return Gen(database_url, isolated_env / "genvault")


def _credits(admin: psycopg.Connection[Any], email: str) -> int:
    row = admin.execute(
        "select c.credits from public.user_credits c join auth.users u on u.id::text = c.user_id "
        "where u.email = %s",
        (email,),
    ).fetchone()
    assert row is not None
    return int(row["credits"])


def _row(admin: psycopg.Connection[Any], generation_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = admin.execute(
        "select g.starred, g.trashed_at, public.genvault_tags_of(g.id) as tags "
        "from public.user_generations g where g.id = %s",
        (generation_id,),
    ).fetchone()
    return found


def _ids(page: dict[str, Any]) -> list[str]:
    return [g["id"] for g in page["items"]]


def _name() -> str:
    """A user name that the output normalising leaves alone (not 8 hex digits)."""
    return f"user-{secrets.token_hex(5)}"


# -- help -----------------------------------------------------------------------------


def test_new_commands_have_help(gen: Gen) -> None:
    import typer.main

    from genvault.cli._app import app

    root = typer.main.get_command(app)
    names: dict[str, Any] = {}

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            names[" ".join((*path, name))] = command
            if hasattr(command, "commands"):
                walk(command, (*path, name))

    walk(root, ())
    assert set(names) >= NEW_COMMANDS
    for name in sorted(NEW_COMMANDS):
        command = names[name]
        assert (command.help or "").strip(), name
        for param in command.params:
            assert (getattr(param, "help", "") or "").strip(), f"{param.name} of gen {name}"
        shown = gen(*name.split(), "--help")
        assert shown.stdout.startswith(f"Usage: gen {name} "), name
        assert command.help.strip().split()[0] in shown.stdout, name


@pytest.mark.parametrize(
    "command",
    [
        ["trash", "--help"],
        ["share", "--help"],
        ["link", "create", "--help"],
        ["template", "save", "--help"],
        ["admin", "purge-trash", "--help"],
    ],
)
def test_new_help_imports_nothing_heavy(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(GEN_SCRIPT), *command],
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("Usage: gen ")
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "typer" in modules
    heavy = ("supabase", "replicate", "psycopg", "psycopg_pool", "PIL", "httpx", "jwt")
    assert sorted(m for m in modules if m.split(".")[0] in heavy or m == "genvault._client") == []


def test_groups_run_their_default_command(gen: Gen) -> None:
    gen.login()
    assert gen("trash").stderr == "the trash is empty\n"
    assert gen.json("trash") == {"items": [], "next_cursor": None}
    assert gen("shared").stderr == "nobody has shared an image with you yet\n"
    assert gen("share", code=2).stderr.startswith("Usage: gen share [OPTIONS] ID EMAIL")
    assert gen("link", code=2).stderr.startswith("Usage: gen link ")


# -- trash ------------------------------------------------------------------------------


def test_delete_moves_to_the_trash_and_restore_brings_back(
    gen: Gen, admin: psycopg.Connection[Any]
) -> None:
    gen.login()
    keep = gen.create("a red fox")["id"]
    drop = gen.create("a blue whale")["id"]
    ghost = "00000000-0000-4000-8000-000000000000"

    result = gen("delete", drop[:8], ghost, code=1)
    assert result.stdout == f"trashed   {drop}\nnot found {ghost}\n"
    assert result.stderr == (
        f"moved to the trash, kept there for 30 days; undo with: gen restore {drop[:8]}\n"
    )
    row = _row(admin, drop)
    assert row is not None
    assert row["trashed_at"] is not None
    assert _ids(gen.json("list")) == [keep]

    trash = gen("trash")
    assert gen.norm(trash.stdout) == dedent(
        """\
        id         trashed            prompt         model
        ─────────────────────────────────────────────────────────────
        <ID8>   <TIME>   a blue whale   genvault/offline
        """
    )
    assert trash.stderr == "restore with: gen restore ID; delete for good with: gen trash empty\n"
    listed = gen.json("trash", "list")
    assert _ids(listed) == [drop]
    assert listed["next_cursor"] is None
    assert listed["items"][0]["trashed_at"] is not None

    again = gen("delete", drop)
    assert again.stdout == f"trashed   {drop} (it already was)\n"
    assert gen.json("delete", drop) == [{"id": drop, "trashed": True}]

    # A prefix finds it in the trash too.
    restored = gen("restore", drop[:8], ghost, code=1)
    assert restored.stdout == f"restored  {drop}\nnot found {ghost}\n"
    assert _ids(gen.json("list")) == [drop, keep]
    assert gen.json("restore", keep) == [{"id": keep, "restored": True}]
    assert gen("restore", keep).stdout == f"restored  {keep} (it was not in the trash)\n"
    assert gen("restore", "nonsense", code=1).stderr.startswith(
        "error: 'nonsense' is not a generation id\n"
    )


def test_trash_pages_with_a_cursor(gen: Gen) -> None:
    gen.login()
    ids = [gen.create(p)["id"] for p in ("one", "two", "three")]
    gen("delete", *ids)
    first = gen("trash", "--limit", "2")
    assert len(first.stdout.splitlines()) == 4
    hint = first.stderr.strip()
    assert gen.norm(hint) == "more: gen trash --limit 2 --before <CURSOR>\n"
    rest = gen.json("trash", "--limit", "2", "--before", hint.split("--before ")[1])
    assert _ids(rest) == [ids[0]]
    assert _ids(gen.json("trash", "--all", "--limit", "1")) == ids[::-1]


def test_delete_permanent_asks_and_deletes_from_the_trash_too(
    gen: Gen, admin: psycopg.Connection[Any]
) -> None:
    gen.login()
    target = gen.create("a red fox")["id"]
    gen("delete", target)
    declined = gen("delete", "--permanent", target[:8], input="n\n", code=1)
    assert gen.norm(declined.stderr).splitlines()[-2:] == [
        "Delete this generation and the stored images for good? [y/N]:",
        "nothing was deleted",
    ]
    assert _row(admin, target) is not None
    done = gen("delete", "--permanent", target, input="y\n")
    assert done.stdout == f"deleted   {target}\n"
    assert _row(admin, target) is None


def test_trash_empty(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    kept = gen.create("a red fox")
    doomed = [gen.create(p) for p in ("a blue whale", "a green frog")]
    gen("delete", *(d["id"] for d in doomed))
    declined = gen("trash", "empty", input="n\n", code=1)
    assert gen.norm(declined.stderr) == (
        "Delete the 2 generations in the trash for good? [y/N]:\nnothing was deleted\n"
    )
    assert all(_row(admin, d["id"]) is not None for d in doomed)
    done = gen("trash", "empty", input="y\n")
    assert done.stdout == "deleted 2 generations from the trash for good\n"
    assert all(_row(admin, d["id"]) is None for d in doomed)
    assert not Path(doomed[0]["url"].removeprefix("file://")).exists()
    assert Path(kept["url"].removeprefix("file://")).exists()
    assert gen.json("trash", "empty", "--yes") == {"deleted": 0}
    assert gen("trash", "empty").stderr == "the trash is empty\n"


def test_admin_purge_trash(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    old = gen.create("trashed long ago")
    recent = gen.create("trashed just now")
    gen("delete", old["id"], recent["id"])
    admin.execute(
        "update public.user_generations set trashed_at = now() - interval '40 days' where id = %s",
        (old["id"],),
    )
    result = gen.json("admin", "purge-trash")
    assert set(result) == {"older_than_days", "generations", "files"}
    assert result["older_than_days"] == 30
    assert result["generations"] >= 1
    assert _row(admin, old["id"]) is None
    assert _row(admin, recent["id"]) is not None
    assert not Path(old["url"].removeprefix("file://")).exists()
    text = gen("admin", "purge-trash", "--older-than", "1w").stdout
    assert re.fullmatch(
        r"removed \d+ generations? and \d+ stored files? that were in the trash longer than "
        r"7 days\n",
        text,
    )
    gen("admin", "purge-trash", "--older-than", "soon", code=2)


# -- stars, tags and the list's filters ------------------------------------------------------


def test_star_unstar_and_the_table(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    fox = gen.create("a red fox")["id"]
    whale = gen.create("a blue whale")["id"]
    assert gen("star", fox[:8]).stdout == f"starred   {fox}\n"
    assert gen.json("star", fox, whale) == [
        {"id": fox, "starred": True},
        {"id": whale, "starred": True},
    ]
    assert gen.json("unstar", whale) == [{"id": whale, "starred": False}]
    assert _ids(gen.json("list", "--starred")) == [fox]
    assert _ids(gen.json("list", "--sort", "starred")) == [fox, whale]
    assert _ids(gen.json("list", "--sort", "oldest")) == [fox, whale]
    assert gen.norm(gen("list").stdout) == dedent(
        """\
        id         date               prompt         model
        ─────────────────────────────────────────────────────────────
        <ID8>   <TIME>   a blue whale   genvault/offline
        <ID8>   <TIME>   ★ a red fox    genvault/offline
        """
    )
    assert gen("unstar", whale).stdout == f"unstarred {whale}\n"

    # Refusals change nothing.
    ghost = "00000000-0000-4000-8000-000000000000"
    result = gen("star", whale, ghost, code=1)
    assert result.stderr == f"error: no generation {ghost}\nhint: list your ids with `gen list`\n"
    assert _row(admin, whale)["starred"] is False  # type: ignore[index]
    gen("delete", whale)
    result = gen("star", whale[:8], code=1)
    assert result.stderr.startswith(f"error: no generation id starts with '{whale[:8]}'\n")
    result = gen("star", whale, code=1)
    assert result.stderr == (
        f"error: generation {whale} is in the trash\n"
        f"hint: bring it back first with `gen restore {whale[:8]}`\n"
    )


def test_tags(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    assert gen("tags").stderr == "no tags yet; add some with: gen tag ID --add portrait,night\n"
    fox = gen.create("a red fox")["id"]
    owl = gen.create("a snowy owl")["id"]
    result = gen("tag", fox[:8], owl[:8], "--add", "Snow, night", "--add", "animal")
    assert result.stdout == "tagged 2 images with snow, night, animal (6 new tags)\n"
    assert gen.json("tag", fox, "--remove", "night", "--add", "fox") == {
        "ids": [fox],
        "added": ["fox"],
        "removed": ["night"],
        "new": 1,
        "taken_off": 1,
    }
    assert _row(admin, fox)["tags"] == ["animal", "fox", "snow"]  # type: ignore[index]
    assert gen.json("tags") == [
        {"tag": "animal", "images": 2},
        {"tag": "snow", "images": 2},
        {"tag": "fox", "images": 1},
        {"tag": "night", "images": 1},
    ]
    assert gen("tags").stdout.splitlines()[2].split() == ["animal", "2"]
    assert gen("tag", owl, "--remove", "night").stdout == (
        "took night off 1 image (1 tag removed)\n"
    )
    assert gen.norm(gen("list").stdout) == dedent(
        """\
        id         date               prompt        model              tags
        ────────────────────────────────────────────────────────────────────────────────
        <ID8>   <TIME>   a snowy owl   genvault/offline   animal, snow
        <ID8>   <TIME>   a red fox     genvault/offline   animal, fox, snow
        """
    )
    assert _ids(gen.json("list", "--tag", "SNOW")) == [owl, fox]
    assert _ids(gen.json("list", "--tag", "snow", "--tag", "fox")) == [fox]
    assert gen("list", "--tag", "zebra").stderr == "no generation matches\n"

    before = _row(admin, fox)
    too_long = "x" * 51
    result = gen("tag", fox, "--add", f"ok,{too_long}", code=1)
    assert result.stderr.startswith("error: the tag 'xxxxxxxxxxxxxxxxxxxx'... is too long\n")
    result = gen("tag", fox, "--add", "a,,b", code=1)
    assert result.stderr == "error: a tag is empty\nhint: give tags like: portrait, 2024\n"
    result = gen("tag", fox, "--add", "x", "--remove", "x", code=1)
    assert result.stderr.startswith("error: x is both added and removed\n")
    many = ",".join(f"t{i}" for i in range(18))
    result = gen("tag", fox, "--add", many, code=1)
    assert "at most 20 tags" in result.stderr
    assert _row(admin, fox) == before
    assert "give --add TAG or --remove TAG" in gen("tag", fox, code=2).stderr
    gen("list", "--tag", "", code=1)


def test_list_filters_and_paging(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    ids = [gen.create(f"a fox, picture {n}")["id"] for n in range(4)]
    other = gen.create("a blue whale")["id"]
    # Ten days back (not so old that an operator's retention purge in another test counts it).
    moved = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    moved -= timedelta(days=10)
    local_day = moved.astimezone().date()
    day_before = (local_day - timedelta(days=1)).isoformat()
    day_after = (local_day + timedelta(days=1)).isoformat()
    backdate(admin, "%s", "id = %s", (moved, ids[0]))
    assert _ids(gen.json("list", "--search", "FOX")) == [*ids[:0:-1], ids[0]]
    assert _ids(gen.json("list", "--to", day_after)) == [ids[0]]
    assert _ids(gen.json("list", "--from", day_before, "--to", day_after)) == [ids[0]]
    assert _ids(gen.json("list", "--to", f"{moved.astimezone():%Y-%m-%dT%H:%M}")) == []
    assert ids[0] not in _ids(gen.json("list", "--from", day_after))
    assert _ids(gen.json("list", "--model", "genvault/offline", "--search", "whale")) == [other]
    assert gen.json("list", "--model", "someone/else")["items"] == []

    # Paging under a filter: the hint repeats the filter and the cursor carries on.
    first = gen("list", "--search", "fox", "--sort", "oldest", "--limit", "2")
    hint = first.stderr.strip()
    assert gen.norm(hint) == (
        "more: gen list --limit 2 --search fox --sort oldest --before <CURSOR>\n"
    )
    cursor = hint.split("--before ")[1]
    rest = gen.json(
        "list", "--search", "fox", "--sort", "oldest", "--limit", "2", "--before", cursor
    )
    assert _ids(rest) == ids[2:]
    assert rest["next_cursor"] is None
    assert _ids(gen.json("list", "--search", "fox", "--all", "--limit", "1")) == (
        [*ids[:0:-1], ids[0]]
    )
    # A cursor of another order is refused.
    wrong = gen("list", "--sort", "starred", "--before", cursor, code=1)
    assert wrong.stderr.startswith("error: this cursor belongs to a page in another order\n")

    bad = gen("list", "--from", "last week", code=2)
    assert "'last week' is not a date" in bad.stderr
    empty = gen("list", "--from", day_after, "--to", day_before, code=1)
    assert empty.stderr.startswith("error: the date range is empty")
    gen("list", "--sort", "random", code=2)
    missing = gen("list", "--collection", "Nope", code=1)
    assert missing.stderr == (
        "error: no collection 'Nope'\nhint: list your collections with `gen collection list`\n"
    )
    # `gen search` keeps working, and shows tags too.
    gen("tag", other, "--add", "sea")
    assert gen.json("search", "whale")["items"][0]["tags"] == ["sea"]


# -- collections ---------------------------------------------------------------------------


def test_collections(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    assert gen("collection", "list").stderr == (
        'no collections yet; make one with: gen collection create "Best of"\n'
    )
    fox = gen.create("a red fox")["id"]
    owl = gen.create("a snowy owl")["id"]
    made = gen("collection", "create", "Best of")
    assert made.stdout == "created the collection Best of\n"
    assert made.stderr == "add images with: gen collection add 'Best of' ID...\n"
    created = gen.json("collection", "create", "Winter")
    assert set(created) == {"id", "name", "images", "created_at", "updated_at"}
    assert created["images"] == 0

    assert gen("collection", "add", "best of", fox[:8], owl).stdout == (
        "added 2 images to Best of\n"
    )
    assert gen.json("collection", "add", "Best of", fox) == {
        "collection": "Best of",
        "ids": [fox],
        "added": 0,
    }
    assert gen("collection", "add", "Best of", fox).stdout == (
        "added 0 images to Best of (1 already there)\n"
    )
    gen("collection", "add", created["id"], owl)
    listed = gen.json("collection", "list")
    assert [(c["name"], c["images"]) for c in listed] == [("Best of", 2), ("Winter", 1)]
    assert gen.norm(gen("collection", "list").stdout).splitlines()[2:] == [
        "Best of        2   <TIME>",
        "Winter         1   <TIME>",
    ]

    shown = gen.json("collection", "show", "Best of")
    assert _ids(shown) == [owl, fox]
    page = gen("collection", "show", "Best of", "--limit", "1")
    assert gen.norm(page.stderr) == (
        "more: gen collection show 'Best of' --limit 1 --before <CURSOR>\n"
    )
    assert _ids(gen.json("list", "--collection", "Best of", "--search", "owl")) == [owl]

    assert gen("collection", "remove", "Best of", owl).stdout == ("removed 1 image from Best of\n")
    assert gen.json("collection", "remove", "Best of", owl) == {
        "collection": "Best of",
        "ids": [owl],
        "removed": 0,
    }
    renamed = gen.json("collection", "rename", "Best of", "Favourites")
    assert renamed["name"] == "Favourites"
    assert gen("collection", "rename", "Favourites", "Top").stdout == (
        "renamed the collection Favourites to Top\n"
    )

    # Refusals change nothing.
    taken = gen("collection", "rename", "Top", "winter", code=1)
    assert taken.stderr == (
        'error: you already have a collection named "winter"\nhint: pick another name\n'
    )
    dup = gen("collection", "create", "WINTER", code=1)
    assert dup.stderr.startswith('error: you already have a collection named "WINTER"\n')
    unknown = gen("collection", "add", "Nope", fox, code=1)
    assert unknown.stderr.startswith("error: no collection 'Nope'\n")
    ghost = "00000000-0000-4000-8000-000000000000"
    gen("collection", "add", "Winter", fox, ghost, code=1)
    gen("collection", "create", " ", code=1)
    gen("collection", "show", "Nope", code=1)
    assert [(c["name"], c["images"]) for c in gen.json("collection", "list")] == [
        ("Top", 1),
        ("Winter", 1),
    ]

    deleted = gen("collection", "delete", "Top")
    assert deleted.stdout == "deleted the collection Top; its 1 image stay in your history\n"
    assert gen.json("collection", "delete", "winter")["deleted"] is True
    assert gen.json("collection", "list") == []
    assert len(gen.json("list")["items"]) == 2
    gen("collection", "delete", "Winter", code=1)


# -- sharing with another user ---------------------------------------------------------------


def test_share_with_a_user(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    bob_name = _name()
    gen("--profile", "bob", "login", "--local", bob_name)
    bob = f"{bob_name}@local.genvault"
    alice = gen.login(_name())
    fox = gen.create("a red fox")
    owl = gen.create("a snowy owl")

    shared = gen("share", fox["id"][:8], bob)
    assert shared.stdout == f"shared {fox['id'][:8]} (a red fox) with {bob}\n"
    share_id = re.search(r"share ([0-9a-f]{8});", shared.stderr)
    assert share_id is not None
    assert shared.stderr == (
        f"share {share_id.group(1)}; end it with: gen unshare {share_id.group(1)}\n"
    )
    gen("collection", "create", "Birds")
    gen("collection", "add", "Birds", owl["id"])
    made = gen.json("share", "--collection", "birds", bob.upper())
    assert set(made) == {
        "id", "recipient_email", "generation_id", "collection_id", "collection_name", "created_at"
    }  # fmt: skip
    assert (made["recipient_email"], made["collection_name"]) == (bob, "Birds")

    mine = gen.json("share", "list")
    assert [(s["generation_id"], s["collection_name"]) for s in mine] == [
        (None, "Birds"),
        (fox["id"], None),
    ]
    table = gen.norm(gen("share", "list").stdout).splitlines()
    assert table[0].split() == ["share", "what", "with", "since"]
    assert table[2].split()[:4] == ["<ID8>", "collection", "Birds", bob]
    assert table[3].split()[:3] == ["<ID8>", "image", "<ID8>"]

    # Bob sees both, and who shared them.
    theirs = gen.json("--profile", "bob", "share", "list", "--with-me")
    assert [(s["shared_by"], s["images"]) for s in theirs] == [(alice, 1), (alice, 1)]
    text = gen.norm(gen("--profile", "bob", "share", "list", "--with-me").stdout)
    assert text.splitlines()[0].split() == ["share", "what", "from", "images", "since"]
    page = gen.json("--profile", "bob", "shared")
    assert _ids(page) == [owl["id"], fox["id"]]
    assert {g["shared_by"] for g in page["items"]} == {alice}
    assert page["next_cursor"] is None
    listed = gen("--profile", "bob", "shared", "--limit", "1")
    assert gen.norm(listed.stdout).splitlines()[2].split()[:4] == [
        "<ID8>", "<TIME>", "a", "snowy"
    ]  # fmt: skip
    assert alice in listed.stdout
    assert gen.norm(listed.stderr) == "more: gen --profile bob shared --limit 1 --before <CURSOR>\n"
    one = gen.json("--profile", "bob", "shared", "--share", made["id"][:8])
    assert _ids(one) == [owl["id"]]

    saved = gen.json("--profile", "bob", "shared", "download", fox["id"][:8], "pictures/")
    data = Path(saved["path"]).read_bytes()
    assert saved == {
        "id": fox["id"],
        "path": str(Path("pictures") / f"{fox['id']}.webp"),
        "bytes": len(data),
        "shared_by": alice,
    }
    assert len(data) == fox["image_bytes"]
    text = gen("--profile", "bob", "shared", "download", fox["id"], "fox.webp").stdout
    assert gen.norm(text) == (
        f"saved fox.webp ({fox['image_bytes'] / 1000:.1f} kB), shared by {alice}\n"
    )
    # Bob's own history is untouched; he cannot change Alice's images.
    assert gen.json("--profile", "bob", "list")["items"] == []
    gen("--profile", "bob", "star", fox["id"], code=1)
    assert _row(admin, fox["id"])["starred"] is False  # type: ignore[index]

    # Refusals change nothing.
    nobody = gen("share", fox["id"], "nobody@example.test", code=1)
    assert nobody.stderr == (
        "error: no genvault user has the email address nobody@example.test\n"
        "hint: ask them to sign up first, or create a public link\n"
    )
    assert gen("share", fox["id"], alice, code=1).stderr.startswith(
        "error: you cannot share with yourself\n"
    )
    assert "not an email address" in gen("share", fox["id"], "bob", code=1).stderr
    gen("share", "--collection", "Nope", bob, code=1)
    gen("share", fox["id"], code=2)
    gen("share", "--collection", "Birds", fox["id"], bob, code=2)
    assert len(gen.json("share", "list")) == 2

    ended = gen("unshare", share_id.group(1))
    assert ended.stdout == (
        f"ended the share {share_id.group(1)}: {bob} no longer sees image {fox['id'][:8]}\n"
    )
    assert _ids(gen.json("--profile", "bob", "shared")) == [owl["id"]]
    refused = gen("--profile", "bob", "shared", "download", fox["id"], code=1)
    assert refused.stderr.startswith(f"error: nothing shared with you has the id {fox['id']}\n")
    again = gen("unshare", share_id.group(1), code=1)
    assert again.stderr == (
        f"error: you have no share '{share_id.group(1)}'\nhint: list them with `gen share list`\n"
    )
    assert gen.json("unshare", made["id"])["ended"] is True
    assert gen.json("--profile", "bob", "shared")["items"] == []


# -- public links ------------------------------------------------------------------------------


def test_public_links(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    alice = gen.login(_name())
    fox = gen.create("a red fox")
    made = gen("link", "create", fox["id"][:8])
    lines = made.stdout.splitlines()
    assert gen.norm(made.stdout) == dedent(
        """\
        link <ID8> to <ID8>, open until <TIME>
        token    <SHA>
        gallery  /l/<SHA>  (in `gen ui`)
        """
    )
    token = lines[1].split()[1]
    assert lines[2].split()[1] == f"/l/{token}"
    assert "the token is shown only now" in made.stderr
    link_id = re.search(r"gen link revoke ([0-9a-f]{8})", made.stderr)
    assert link_id is not None

    # A visitor without an account (a profile nobody signed in on) sees it.
    seen = gen.json("--profile", "visitor", "link", "open", token)
    assert set(seen) == {"shared_by", "collection_name", "expires_at", "items"}
    assert seen["shared_by"] == alice.split("@")[0]
    assert _ids(seen) == [fox["id"]]
    text = gen("--profile", "visitor", "link", "open", f"http://127.0.0.1:8000/l/{token}")
    assert gen.norm(text.stdout).splitlines()[0] == (
        f"{alice.split('@')[0]} shares an image; the link opens until <TIME>"
    )
    assert "a red fox" in text.stdout

    gen("collection", "create", "Foxes")
    gen("collection", "add", "Foxes", fox["id"])
    week = gen.json("link", "create", "--collection", "foxes", "--expires", "2w")
    assert set(week) >= {"id", "token", "expires_at", "collection_id", "active", "path"}
    assert week["path"] == f"/l/{week['token']}"
    assert week["collection_name"] == "Foxes"
    assert gen.json("link", "open", week["token"])["collection_name"] == "Foxes"

    links = gen.json("link", "list")
    assert [(k["collection_name"], k["active"], k["token"]) for k in links] == [
        ("Foxes", True, None),
        (None, True, None),
    ]
    table = gen.norm(gen("link", "list").stdout).splitlines()
    assert table[0].split() == ["link", "what", "created", "expires", "state"]
    assert table[2].split()[-1] == "open"

    revoked = gen("link", "revoke", link_id.group(1))
    assert revoked.stdout == f"revoked the link {link_id.group(1)}; it no longer opens\n"
    closed = gen("--profile", "visitor", "link", "open", token, code=1)
    assert closed.stderr == (
        "error: this link does not open: it was revoked, it expired, or it never existed\n"
        "hint: ask whoever shared it for a new link\n"
    )
    assert gen("link", "revoke", link_id.group(1), code=1).stderr.startswith(
        f"error: the link {link_id.group(1)} was already revoked\n"
    )
    assert gen.norm(gen("link", "list").stdout).splitlines()[3].split()[-1] == "revoked"

    # An expired link no longer opens.
    admin.execute(
        "update public.public_links set created_at = now() - interval '2 days', "
        "expires_at = now() - interval '1 minute' where id = %s",
        (week["id"],),
    )
    expired = gen("link", "open", week["token"], code=1)
    assert expired.stderr.startswith("error: this link does not open")
    assert [k["active"] for k in gen.json("link", "list")] == [False, False]
    states = [line.split()[-1] for line in gen("link", "list").stdout.splitlines()[2:]]
    assert sorted(states) == ["expired", "revoked"]

    # Refusals make no link.
    assert gen("link", "open", "not-a-token", code=1).stderr.startswith(
        "error: that is not a genvault link token\n"
    )
    assert (
        "is not a length of time"
        in gen("link", "create", fox["id"], "--expires", "soon", code=2).stderr
    )
    too_long = gen("link", "create", fox["id"], "--expires", "400d", code=1)
    assert too_long.stderr.startswith("error: a link must expire between 1 minute and 366 days")
    gen("link", "create", fox["id"], "--collection", "Foxes", code=2)
    gen("link", "create", code=2)
    gen("link", "create", "--collection", "Nope", code=1)
    gen("link", "revoke", "00000000-0000-4000-8000-000000000000", code=1)
    assert len(gen.json("link", "list")) == 2


# -- templates ---------------------------------------------------------------------------------


def test_templates_and_create_from_one(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    email = gen.login()
    assert gen("template", "list").stderr == (
        'no templates yet; save one with: gen template save fox "a fox in {style}"\n'
    )
    saved = gen("template", "save", "beast", "a {animal} in {style}", "-a", "16:9", "--seed", "5")
    assert saved.stdout == "saved the template beast (needs: animal, style)\n"
    assert saved.stderr == (
        "use it with: gen create --template beast --set animal=... --set style=...\n"
    )
    plain = gen.json("template", "save", "plain", "a quiet harbour", "--model", "genvault/offline")
    assert set(plain) == {
        "id", "name", "prompt", "placeholders", "model", "params", "created_at", "updated_at"
    }  # fmt: skip
    assert (plain["placeholders"], plain["model"], plain["params"]) == ([], "genvault/offline", {})
    listed = gen.json("template", "list")
    assert [(t["name"], t["placeholders"], t["params"]) for t in listed] == [
        ("beast", ["animal", "style"], {"aspect_ratio": "16:9", "seed": 5}),
        ("plain", [], {}),
    ]
    table = gen("template", "list").stdout.splitlines()
    assert table[0].split() == ["name", "needs", "prompt", "settings"]
    assert table[2].split() == [
        "beast", "animal,", "style", "a", "{animal}", "in", "{style}", "aspect_ratio=16:9", "seed=5"
    ]  # fmt: skip

    made = gen.json(
        "create", "--template", "beast", "--set", "animal=fox", "--set", "style=watercolour"
    )
    (record,) = made["generations"]
    assert record["prompt"] == "a fox in watercolour"
    assert record["params"] == {"aspect_ratio": "16:9", "seed": 5}
    again = gen.create(
        "--template", "BEAST", "--set", "animal=owl", "--set", "style=ink", "--seed", "9"
    )
    assert (again["prompt"], again["params"]["seed"]) == ("a owl in ink", 9)
    assert gen.create("--template", "plain")["prompt"] == "a quiet harbour"
    assert _credits(admin, email) == 7

    # Refused before anything is charged.
    missing = gen("create", "--template", "beast", "--set", "animal=fox", code=1)
    assert missing.stderr == (
        'error: template "beast" needs a value for style\nhint: give each with --set style=...\n'
    )
    extra = gen("create", "-t", "plain", "--set", "colour=red", code=1)
    assert extra.stderr.startswith('error: template "plain" has no placeholder colour\n')
    unknown = gen("create", "--template", "nope", code=1)
    assert unknown.stderr == (
        'error: no template named "nope"\nhint: list your templates with `gen template list`\n'
    )
    both = gen("create", "a fox", "--template", "beast", code=2)
    assert "give a prompt or --template, not both" in both.stderr
    assert "--set fills a template" in gen("create", "a fox", "--set", "a=b", code=2).stderr
    bad = gen("create", "--template", "beast", "--set", "animal", code=2)
    assert "'animal' is not NAME=VALUE" in bad.stderr
    twice = gen("create", "-t", "beast", "--set", "a=b", "--set", "a=c", code=2)
    assert "a is set twice" in twice.stderr
    gen("create", "--template", "beast", "--from", "00000000", code=2)
    assert _credits(admin, email) == 7

    assert gen("template", "save", "x", "a fox", "-a", "7:3", code=1).stderr.startswith(
        "error: unknown aspect ratio '7:3'\n"
    )
    assert gen(
        "template", "save", "x", "a fox", "--model", "Not A Model", code=1
    ).stderr.startswith("error: model name 'Not A Model' is malformed\n")
    gen("template", "save", "x", "   ", code=1)
    assert gen("template", "delete", "beast").stdout == "deleted the template beast\n"
    assert gen.json("template", "delete", "plain") == {"name": "plain", "deleted": True}
    gone = gen("template", "delete", "beast", code=1)
    assert gone.stderr == (
        "error: no template named 'beast'\nhint: list your templates with `gen template list`\n"
    )
    assert gen.json("template", "list") == []


# -- output modes ------------------------------------------------------------------------------


def test_json_output_is_only_json(gen: Gen) -> None:
    bob_name = _name()
    gen("--profile", "bob", "login", "--local", bob_name)
    gen.login()
    record = gen.create("a red fox")
    gen("collection", "create", "C")
    link = gen.json("link", "create", record["id"])
    for command in (
        ["star", record["id"]],
        ["unstar", record["id"]],
        ["tag", record["id"], "--add", "a"],
        ["tags"],
        ["list", "--tag", "a", "--starred", "--sort", "starred"],
        ["collection", "add", "C", record["id"]],
        ["collection", "list"],
        ["collection", "show", "C"],
        ["collection", "rename", "C", "D"],
        ["share", record["id"], f"{bob_name}@local.genvault"],
        ["share", "list"],
        ["share", "list", "--with-me"],
        ["link", "list"],
        ["link", "open", link["token"]],
        ["template", "save", "t", "a {x}"],
        ["template", "list"],
        ["delete", record["id"]],
        ["trash"],
        ["restore", record["id"]],
        ["collection", "remove", "D", record["id"]],
        ["collection", "delete", "D"],
        ["link", "revoke", link["id"]],
        ["template", "delete", "t"],
        ["trash", "empty", "--yes"],
        ["admin", "purge-trash"],
        ["--profile", "bob", "shared"],
    ):
        result = gen(*command, "--json")
        assert result.stderr == "", command
        json.loads(result.stdout)
