"""The `gen` command line, driven in-process against the real test database.

Each test signs in as a fresh local user, so tests share the database but not
their data. Outputs are compared whole after normalising ids, times and paths.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import zipfile
from pathlib import Path
from textwrap import dedent
from typing import Any

import psycopg
import pytest

from genvault.cli._app import app
from tests.support.cli import Gen, as_url
from tests.support.database import backdate


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


def _exists(admin: psycopg.Connection[Any], generation_id: str) -> bool:
    row = admin.execute(
        "select count(*) as n from public.user_generations where id = %s", (generation_id,)
    ).fetchone()
    assert row is not None
    return bool(row["n"])


# -- help and usage -------------------------------------------------------------


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, (*path, name)))
    return found


def test_every_command_and_option_has_help(gen: Gen) -> None:
    import typer.main

    root = typer.main.get_command(app)
    commands = _commands(root)
    names = {" ".join(path) for path, _ in commands}
    assert names >= {
        "create", "list", "search", "show", "open", "download", "delete", "export", "ui",
        "credits", "stats", "login", "logout", "whoami", "doctor", "account", "account delete",
        "db", "db migrate", "db verify", "db debug",
        "admin", "admin stats", "admin popular", "admin trends", "admin storage",
        "admin purge", "admin grant",
    }  # fmt: skip
    for path, command in commands:
        assert (command.help or "").strip(), f"gen {' '.join(path)} has no help"
        for param in command.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"{param.opts} of gen {' '.join(path)}"
            else:
                assert (getattr(param, "help", "") or "").strip(), f"{param.name} of {path}"
        result = gen(*path, "--help")
        first_line = command.help.strip().splitlines()[0][:40]
        assert first_line in " ".join(result.stdout.split()), path


def test_help_lists_every_command_once_under_its_heading(gen: Gen) -> None:
    import typer.main

    text = gen("--help").stdout
    sections: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    columns = set()
    heading = None
    for line in text[text.index("\n\n", text.index("Options:")) :].splitlines():
        if re.fullmatch(r"[A-Z][a-z ]+:", line):
            heading = line[:-1]
            sections[heading] = []
        elif heading is not None and (found := re.fullmatch(r"  ([a-z-]+)( +)(.*)", line)):
            sections[heading].append(found[1])
            helps[found[1]] = found[3]
            columns.add(len(found[1]) + len(found[2]))
        elif not line:
            heading = None
    assert sections == {
        "History": [
            "create", "list", "search", "show", "open", "download", "delete", "export", "ui",
        ],
        "Organising": [
            "trash", "restore", "star", "unstar", "tag", "tags", "collection", "template",
        ],
        "Sharing": ["share", "unshare", "shared", "link"],
        "Account": ["login", "logout", "whoami", "credits", "stats", "account", "doctor"],
        "Operators": ["db", "admin"],
    }  # fmt: skip
    assert len(columns) == 1  # one list, split by headings: the help texts line up
    root: Any = typer.main.get_command(app)
    assert sorted(helps) == sorted(root.commands)
    for name, shown in helps.items():
        assert root.commands[name].help.startswith(shown.removesuffix("...")), name


def test_usage_errors_exit_with_2(gen: Gen) -> None:
    assert "No such command" in gen("bogus", code=2).stderr
    gen("list", "--limit", "0", code=2)
    gen("create", "x", "--num", "0", code=2)
    assert "give a prompt, or --from ID" in gen("create", code=2).stderr
    gen("admin", "purge", "--older-than", "soon", code=2)
    gen("export", "out", "--since", "yesterday", code=2)
    gen("login", "--local", "a", "--code", code=2)


def test_version(gen: Gen) -> None:
    assert re.fullmatch(r"gen \(genvault\) \d+\.\d+\.\d+\n", gen("--version").stdout)


# -- signing in -----------------------------------------------------------------


def test_not_signed_in_is_one_error_line_and_a_hint(gen: Gen) -> None:
    for command in (["list"], ["credits"], ["create", "a fox"], ["whoami"], ["stats"]):
        result = gen(*command, code=1)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[0] == "error: nobody is signed in", command
        assert lines[1].startswith("hint: sign in with `gen login`"), command
        assert len(lines) == 2
        assert "Traceback" not in result.stderr


def test_login_whoami_logout(gen: Gen) -> None:
    email = gen.login("cli-login-user")
    whoami = gen.json("whoami")
    assert whoami["email"] == email
    assert whoami["kind"] == "local"
    assert whoami["profile"] == "default"
    assert whoami["backend"].startswith("PostgreSQL database genvault_test_")
    text = gen("whoami").stdout
    assert gen.norm(text).splitlines()[:4] == [
        f"email     {email}",
        "user id   <ID>",
        "kind      local",
        "profile   default",
    ]
    assert "signed out cli-login-user@local.genvault" in gen("logout").stderr
    gen("whoami", code=1)
    assert "nobody was signed in" in gen("logout").stderr


def test_login_rejects_a_bad_local_name_and_email_sign_in_without_a_project(gen: Gen) -> None:
    result = gen("login", "--local", "Not A Name", code=1)
    assert result.stderr.startswith("error: 'Not A Name' is not a usable local user name\n")
    result = gen("login", "--email", "a@example.test", code=1)
    assert result.stderr == (
        "error: email sign-in needs a hosted Supabase project\n"
        "hint: set SUPABASE_URL and SUPABASE_ANON_KEY, or use `gen login --local NAME`\n"
    )


def test_profiles_keep_separate_sessions_and_settings(
    gen: Gen, database_url: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen.login("cli-profile-default")
    gen("--profile", "work", "login", "--local", "cli-profile-work")
    assert gen.json("whoami")["email"] == "cli-profile-default@local.genvault"
    work = gen.json("--profile", "work", "whoami")
    assert work["email"] == "cli-profile-work@local.genvault"
    assert work["profile"] == "work"
    monkeypatch.setenv("GENVAULT_PROFILE", "work")
    assert gen.json("whoami")["profile"] == "work"
    # A profile's own settings.env is read: this one points at the test database
    # while the environment names none (which would mean the embedded server).
    folder = isolated_env / "genvault" / "profiles" / "lab"
    folder.mkdir(parents=True)
    (folder / "settings.env").write_text(f"DATABASE_URL={as_url(database_url)}\n")
    del gen.env["DATABASE_URL"]
    gen("--profile", "lab", "login", "--local", "cli-profile-lab")
    lab = gen.json("--profile", "lab", "whoami")
    assert lab["backend"].startswith("PostgreSQL database genvault_test_")
    bad = gen("--profile", "../etc", "whoami", code=1)
    assert bad.stderr.startswith("error: --profile is malformed: '../etc'\n")


# -- create ---------------------------------------------------------------------


def test_create_shows_progress_result_and_credits(gen: Gen) -> None:
    gen.login()
    result = gen("create", "a red fox in fresh snow")
    assert gen.norm(result.stdout) == dedent(
        """\
        created <ID> in <S>s
          stored at file://<HOME>/images/<ID>/<SHA>.webp
        credits: 10 → 9
        """
    )
    # Into a pipe: plain status lines, no spinner.
    assert result.stderr == dedent(
        """\
        generating 1 image with genvault/offline · 1:1 · 10 credits
        queued: credit reserved
        running: drawing offline
        saving: storing the image
        """
    )
    gen_id = re.search(r"created (\S+)", result.stdout)
    assert gen_id is not None
    stored = re.search(r"stored at file://(\S+)", result.stdout)
    assert stored is not None
    assert Path(stored.group(1)).read_bytes()[8:12] == b"WEBP"


def test_create_json(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    email = gen.login()
    made = gen.json("create", "a lighthouse", "--aspect-ratio", "16:9", "--seed", "42")
    assert set(made) == {"generations", "credits_before", "credits_after"}
    assert (made["credits_before"], made["credits_after"]) == (10, 9)
    (record,) = made["generations"]
    assert record["prompt"] == "a lighthouse"
    assert record["model"] == "genvault/offline"
    assert record["params"] == {"aspect_ratio": "16:9", "seed": 42}
    assert record["url"].startswith("file://")
    assert isinstance(record["elapsed_seconds"], float)
    assert _exists(admin, record["id"])
    assert _credits(admin, email) == 9


def test_create_num_and_from(gen: Gen) -> None:
    gen.login()
    made = gen.json("create", "a tiny robot", "--num", "3", "--seed", "7", "-a", "3:2")
    seeds = [g["params"]["seed"] for g in made["generations"]]
    assert seeds == [7, 8, 9]
    assert made["credits_before"] - made["credits_after"] == 3
    first = made["generations"][0]
    again = gen.json("create", "--from", first["id"][:8])["generations"][0]
    assert again["prompt"] == "a tiny robot"
    assert again["params"] == {"aspect_ratio": "3:2", "seed": 7}
    changed = gen.create("a tiny robot, at night", "--from", first["id"], "--seed", "1")
    assert changed["params"] == {"aspect_ratio": "3:2", "seed": 1}
    assert changed["prompt"] == "a tiny robot, at night"
    plain = gen("create", "two owls", "-n", "2")
    assert plain.stdout.count("created ") == 2
    assert "[2/2] saving: storing the image" in plain.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "error: the prompt is empty\nhint: describe the image you want\n"),
        (
            ["a fox", "--aspect-ratio", "7:3"],
            "error: unknown aspect ratio '7:3'\n"
            "hint: use one of 1:1, 16:9, 21:9, 3:2, 2:3, 4:5, 5:4, 3:4, 4:3, 9:16, 9:21\n",
        ),
        (
            ["a fox", "--seed", "4294967295", "--num", "2"],
            "error: the seed 4294967296 is out of range\n"
            "hint: use a whole number from 0 to 4294967295\n",
        ),
        (["a fox", "--model", "Not A Model"], "error: model name 'Not A Model' is malformed\n"),
        (
            ["a fox", "--from", "not-an-id"],
            "error: 'not-an-id' is not a generation id\n"
            "hint: give the full id, or its first 8 or more characters as `gen list` shows them\n",
        ),
    ],
)
def test_create_refuses_bad_input_before_charging(
    gen: Gen, admin: psycopg.Connection[Any], args: list[str], message: str
) -> None:
    email = gen.login()
    result = gen("create", *args, code=1)
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert _credits(admin, email) == 10


def test_create_without_credits(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    email = gen.login()
    admin.execute(
        "select public.grant_credits(c.user_id, -c.credits) from public.user_credits c "
        "join auth.users u on u.id::text = c.user_id where u.email = %s",
        (email,),
    )
    result = gen("create", "a fox", code=1)
    assert result.stderr == (
        "error: you have 0 credits; an image needs 1\n"
        "hint: ask an operator for credits (`gen admin grant`)\n"
    )
    assert gen.json("list")["items"] == []
    gen("admin", "grant", email, "2")
    gen("create", "a fox")
    result = gen("create", "a fox", "--num", "2", code=1)
    assert result.stderr.startswith("error: you have 1 credit; 2 images need 2\n")


def test_ctrl_c_during_a_generation_refunds(
    gen: Gen, admin: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from genvault._offline import OfflineModel

    email = gen.login()

    def interrupted(self: Any, request: Any, *, on_status: Any = None) -> Any:
        if on_status:
            on_status("running", "drawing offline")
        raise KeyboardInterrupt

    monkeypatch.setattr(OfflineModel, "generate", interrupted)
    result = gen("create", "a fox", code=130)
    assert result.stderr.splitlines()[-1] == "cancelled; the credit was refunded"
    assert _credits(admin, email) == 10
    assert gen.json("list")["items"] == []


# -- list, search, show -----------------------------------------------------------


def test_list_pages_and_table(gen: Gen) -> None:
    gen.login()
    assert gen("list").stderr == (
        'no generations yet; make one with: gen create "a red fox in fresh snow"\n'
    )
    ids = [gen.create(p)["id"] for p in ("a red fox", "a blue whale", "a green frog")]
    result = gen("list")
    assert gen.norm(result.stdout) == dedent(
        """\
        id         date               prompt         model
        ─────────────────────────────────────────────────────────────
        <ID8>   <TIME>   a green frog   genvault/offline
        <ID8>   <TIME>   a blue whale   genvault/offline
        <ID8>   <TIME>   a red fox      genvault/offline
        """
    )
    assert [line[:8] for line in result.stdout.splitlines()[2:]] == [i[:8] for i in ids[::-1]]
    assert result.stderr == ""

    first = gen("list", "--limit", "2")
    assert len(first.stdout.splitlines()) == 4
    hint = first.stderr.strip()
    assert gen.norm(hint).strip() == "more: gen list --limit 2 --before <CURSOR>"
    cursor = hint.split("--before ")[1]
    rest = gen.json("list", "--limit", "2", "--before", cursor)
    assert [g["id"] for g in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    page = gen.json("list", "--limit", "2")
    assert [g["id"] for g in page["items"]] == ids[:0:-1]
    assert set(page["items"][0]) >= {"id", "prompt", "created_at", "model", "image_url", "params"}
    assert [g["id"] for g in gen.json("list", "--all", "--limit", "1")["items"]] == ids[::-1]
    bad = gen("list", "--before", "nonsense", code=1)
    assert bad.stderr.startswith("error: malformed page cursor: 'nonsense'\n")


def test_list_trims_long_prompts_to_the_width(gen: Gen) -> None:
    gen.login()
    gen.create("a very long prompt " * 20)
    lines = gen("list").stdout.splitlines()
    assert all(len(line) <= 120 for line in lines)
    assert "…" in lines[2]


def test_search(gen: Gen) -> None:
    gen.login()
    fox = gen.create("A Red Fox")["id"]
    gen.create("a blue whale")
    found = gen.json("search", "red fox")
    assert [g["id"] for g in found["items"]] == [fox]
    assert gen.norm(gen("search", "FOX").stdout).splitlines()[2] == (
        "<ID8>   <TIME>   A Red Fox   genvault/offline"
    )
    assert gen("search", "zebra").stderr == "no generation has 'zebra' in its prompt\n"
    assert gen("search", " ", code=1).stderr.startswith("error: the search text is empty\n")


def test_show(gen: Gen) -> None:
    gen.login()
    record = gen.create("a red fox", "--seed", "3")
    result = gen("show", record["id"][:8])
    assert gen.norm(result.stdout) == dedent(
        """\
        id          <ID>
        prompt      a red fox
        model       genvault/offline
        settings    aspect_ratio=1:1 seed=3
        created     <TIME>
        updated     <TIME>
        size        {}
        sha256      <SHA>
        image       <ID>/<SHA>.webp
        thumbnail   <ID>/<SHA>.thumb.webp
        url         file://<HOME>/images/<ID>/<SHA>.webp
        """.format(gen.norm(f"{record['image_bytes'] / 1000:.1f} kB").strip())
    )
    assert gen.norm(result.stderr) == "open it with: gen open <ID8>\n"
    shown = gen.json("show", record["id"])
    assert {k: shown[k] for k in ("id", "prompt", "image_sha256", "url")} == {
        k: record[k] for k in ("id", "prompt", "image_sha256", "url")
    }


def test_unknown_malformed_and_other_users_ids(gen: Gen) -> None:
    gen.login()
    theirs = gen.create("somebody else's fox")["id"]
    gen.login()
    for command in ("show", "open", "download", "delete"):
        result = gen(command, "not-an-id", code=1)
        assert result.stderr.startswith("error: 'not-an-id' is not a generation id\n"), command
        assert "Traceback" not in result.stderr
    result = gen("show", theirs, code=1)
    assert result.stderr == f"error: no generation {theirs}\nhint: list your ids with `gen list`\n"
    result = gen("show", theirs[:8], code=1)
    assert result.stderr.startswith(f"error: no generation id starts with '{theirs[:8]}'\n")
    assert gen("show", "abc", code=1).stderr.startswith("error: 'abc' is not a generation id")


# -- files: download, export ------------------------------------------------------


def test_download(gen: Gen, isolated_env: Path) -> None:
    gen.login()
    a = gen.create("a red fox")
    b = gen.create("a blue whale")
    saved = gen.json("download", a["id"], b["id"][:8], "-o", "pictures")
    assert [s["id"] for s in saved] == [a["id"], b["id"]]
    for record, entry in zip((a, b), saved, strict=True):
        data = Path(entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["image_sha256"]
        assert entry["bytes"] == len(data)
    text = gen("download", a["id"], "-o", "again").stdout
    assert gen.norm(text) == f"saved again/<ID>.webp ({a['image_bytes'] / 1000:.1f} kB)\n"


def test_export_folder_zip_resume_and_dates(gen: Gen, isolated_env: Path) -> None:
    gen.login()
    records = [gen.create(p) for p in ("a red fox", "a blue whale")]
    first = gen.json("export", "backup")
    assert first["images"] == 2
    assert first["skipped"] == 0
    assert first["bytes"] == sum(r["image_bytes"] for r in records)
    manifest = json.loads((Path(first["path"]) / "manifest.json").read_text())
    assert {g["id"] for g in manifest["generations"]} == {r["id"] for r in records}
    again = gen("export", "backup")
    assert again.stdout == "exported 2 images to backup, 2 already there (0 bytes written)\n"
    zipped = gen.json("export", "backup.zip", "--zip")
    with zipfile.ZipFile(zipped["path"]) as archive:
        assert len(archive.namelist()) == 3
    future = gen.json("export", "later", "--since", "2999-01-01")
    assert future["images"] == 0
    past = gen.json("export", "earlier", "--until", "2000-01-01")
    assert past["images"] == 0
    today = gen.json("export", "window", "--since", "2000-01-01", "--until", "2999-12-31")
    assert today["images"] == 2
    swapped = gen("export", "x", "--since", "2999-01-01", "--until", "2000-01-01", code=1)
    assert swapped.stderr.startswith("error: --since is after --until\n")


# -- delete -----------------------------------------------------------------------


def test_delete_reports_each_id(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    keep = gen.create("a red fox")["id"]
    drop = gen.create("a blue whale")["id"]
    ghost = "00000000-0000-4000-8000-000000000000"
    result = gen("delete", "--permanent", drop[:8], ghost, "--yes", code=1)
    assert result.stdout == f"deleted   {drop}\nnot found {ghost}\n"
    assert not _exists(admin, drop)
    assert _exists(admin, keep)
    outcome = gen.json("delete", "--permanent", keep, "--yes")
    assert outcome == [{"id": keep, "deleted": True}]


def test_delete_without_permanent_moves_to_the_trash(
    gen: Gen, admin: psycopg.Connection[Any]
) -> None:
    gen.login()
    target = gen.create("a red fox")["id"]
    result = gen("delete", target[:8])
    assert result.stdout == f"trashed   {target}\n"
    assert result.stderr == (
        f"moved to the trash, kept there for 30 days; undo with: gen restore {target[:8]}\n"
    )
    assert _exists(admin, target)
    assert gen.json("list")["items"] == []
    gen("restore", target[:8])
    assert [g["id"] for g in gen.json("list")["items"]] == [target]


def test_delete_asks_first(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    target = gen.create("a red fox")["id"]
    declined = gen("delete", "--permanent", target, input="n\n", code=1)
    assert gen.norm(declined.stderr) == dedent(
        """\
        id         date               prompt      model
        ──────────────────────────────────────────────────────────
        <ID8>   <TIME>   a red fox   genvault/offline
        Delete this generation and the stored images for good? [y/N]:
        nothing was deleted
        """
    )
    assert declined.stdout == ""
    assert _exists(admin, target)
    gen("delete", "--permanent", target, input="", code=1)  # no answer at all is a no
    assert _exists(admin, target)
    accepted = gen("delete", "--permanent", target, input="y\n")
    assert accepted.stdout == f"deleted   {target}\n"
    assert not _exists(admin, target)


# -- credits, stats -----------------------------------------------------------------


def test_credits(gen: Gen) -> None:
    gen.login()
    made = gen.create("a red fox")
    result = gen("credits")
    assert gen.norm(result.stdout) == dedent(
        """\
        balance: 9 credits
        recent changes
        when               change   what
        ─────────────────────────────────────────────
        <TIME>        ·   spent on <ID8>
        <TIME>       -1   held for <ID8>
        <TIME>      +10   starter
        """
    )
    data = gen.json("credits", "--limit", "2")
    assert data["balance"] == 9
    assert [(e["reason"], e["delta"], e["generation_id"]) for e in data["ledger"]] == [
        ("spend", 0, made["id"]),
        ("reserve", -1, made["id"]),
    ]


def test_stats(gen: Gen) -> None:
    gen.login()
    for prompt in ("a red fox", "A red fox ", "a blue whale"):
        gen.create(prompt)
    figures = gen.json("stats", "--top", "1")
    assert figures["total"] == 3
    assert figures["credits"] == 7
    assert figures["credits_spent"] == 3
    assert figures["top_prompts"] == [{"prompt": "a red fox", "uses": 2}]
    assert sum(d["images"] for d in figures["per_day"]) == 3
    assert sum(w["images"] for w in figures["per_week"]) == 3
    text = gen.norm(gen("stats").stdout)
    assert text.startswith("images    3 (")
    assert "credits   7 left, 3 spent\n" in text
    assert "top prompts\n" in text
    assert "   2   a red fox\n" in text


# -- account delete -----------------------------------------------------------------


def test_account_delete_asks_twice(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    email = gen.login()
    gen.create("a red fox")
    wrong = gen("account", "delete", input="y\nnope\n", code=1)
    assert "that did not match; nothing was removed" in wrong.stderr
    said_no = gen("account", "delete", input="n\n", code=1)
    assert "nothing was removed" in said_no.stderr
    assert gen.json("whoami")["email"] == email
    done = gen("account", "delete", input=f"y\n{email}\n")
    assert done.stdout == (
        f"deleted the account {email}: 1 generation, 2 stored files, 3 ledger entries; signed out\n"
    )
    gen("whoami", code=1)
    row = admin.execute("select count(*) as n from auth.users where email = %s", (email,))
    assert row.fetchone() == {"n": 0}


def test_account_delete_yes_json(gen: Gen) -> None:
    email = gen.login()
    gen.create("a red fox")
    removed = gen.json("account", "delete", "--yes")
    assert removed["email"] == email
    assert (removed["generations"], removed["files"]) == (1, 2)
    assert removed["ledger_entries"] >= 3


# -- doctor -------------------------------------------------------------------------


def test_doctor(gen: Gen) -> None:
    failing = gen.json("doctor", code=1)
    assert failing["ok"] is False
    by_name = {c["check"]: c for c in failing["checks"]}
    assert by_name["signed in"]["status"] == "fail"
    assert by_name["signed in"]["fix"] == "sign in with `gen login --local NAME`"
    text = gen("doctor", code=1)
    assert text.stderr == "error: 1 check failed: signed in\n"
    assert "fix: sign in with `gen login --local NAME`" in text.stdout

    gen.login()
    report = gen.json("doctor")
    assert report["ok"] is True
    assert [(c["check"], c["status"]) for c in report["checks"]] == [
        ("settings", "pass"),
        ("database", "pass"),
        ("signed in", "pass"),
        ("migrations", "pass"),
        ("schema & RLS", "pass"),
        ("storage", "pass"),
        ("image model", "pass"),
    ]
    lines = gen.norm(gen("doctor").stdout).splitlines()
    assert [line[:18] for line in lines if line[:1] == "✓"] == [
        "✓   settings      ",
        "✓   database      ",
        "✓   signed in     ",
        "✓   migrations    ",
        "✓   schema & RLS  ",
        "✓   storage       ",
        "✓   image model   ",
    ]
    assert "offline stand-in model genvault/offline in use" in " ".join(lines)


def test_doctor_reports_an_unreachable_database(gen: Gen) -> None:
    gen.env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"
    report = gen.json("doctor", code=1)
    status = {c["check"]: c["status"] for c in report["checks"]}
    assert status["settings"] == "pass"
    assert status["database"] == "fail"
    assert status["signed in"] == "skip"
    assert status["storage"] == "pass"


# -- operators ------------------------------------------------------------------------


def test_db_commands(gen: Gen) -> None:
    migrated = gen.json("db", "migrate")
    assert {m["name"]: m["status"] for m in migrated} == {
        "supabase_compat.sql": "unchanged",
        "credits.sql": "unchanged",
        "generations.sql": "unchanged",
        "monitoring.sql": "unchanged",
        "storage.sql": "unchanged",
        "history_at_scale.sql": "unchanged",
        "organising.sql": "unchanged",
        "storage_sharing.sql": "unchanged",
    }
    checks = gen.json("db", "verify")
    assert checks
    assert all(c["ok"] for c in checks)
    assert {"check", "ok", "detail"} == set(checks[0])
    text = gen("db", "verify")
    assert text.stderr == f"all {len(checks)} checks passed\n"
    debug = gen.json("db", "debug")
    assert debug["ran"] is True
    assert len(debug["results"]) >= 5
    assert all(r["error"] is None for r in debug["results"]), debug["results"]
    titles = [r["title"] for r in debug["results"]]
    assert titles[0] == "Who am I?"
    assert any(t.startswith("Row Level Security") for t in titles)
    shown = gen("db", "debug")
    assert "1. Who am I?" in shown.stdout
    assert gen("db", "debug", "--path").stdout.strip().endswith("debug_queries.sql")


def test_db_debug_runs_read_only(gen: Gen) -> None:
    from genvault import Upkeep

    url = gen.env["DATABASE_URL"]
    script = "create table cli_should_not_exist (x int); select 1 as one;"
    results = Upkeep(url).run_script(script)
    assert results[0].error is not None
    assert "read-only" in results[0].error
    assert results[1].rows == [[1]]


def test_split_sql_keeps_quoted_semicolons() -> None:
    from genvault._upkeep import split_sql

    script = dedent(
        """\
        -- First: one.
        select 1;
        -- commented out; select 2;
        select ';' as a, $body$ x; y $body$ as b, "semi;colon" as c;
        /* block; comment */
        """
    )
    assert split_sql(script) == [
        "-- First: one.\nselect 1;",
        "-- commented out; select 2;\n"
        "select ';' as a, $body$ x; y $body$ as b, \"semi;colon\" as c;",
    ]


def test_admin_commands(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    email = gen.login()
    gen.create("an admin test prompt")
    per_user = gen.json("admin", "stats", "--limit", "10000")
    user_id = gen.json("whoami")["user_id"]
    assert {"user_id": user_id, "images": 1} in [
        {"user_id": r["user_id"], "images": r["images"]} for r in per_user
    ]
    popular = gen.json("admin", "popular", "--limit", "10000")
    assert any(p["prompt"] == "an admin test prompt" for p in popular)
    days = gen.json("admin", "trends", "--periods", "3")
    assert len(days) == 3
    assert days[-1]["images"] >= 1
    weeks = gen.json("admin", "trends", "--week", "--periods", "2")
    assert len(weeks) == 2
    storage = gen.json("admin", "storage")
    assert storage["images"] >= 1
    dry = gen.json("admin", "purge", "--older-than", "90d", "--dry-run")
    assert dry == {"older_than_days": 90, "generations": 0, "files": 0, "dry_run": True}
    assert gen("admin", "purge", "--older-than", "1y", "--yes").stdout == (
        "removed 0 generations and 0 stored files older than 365 days\n"
    )
    granted = gen.json("admin", "grant", email, "5")
    assert granted == {"user": email, "amount": 5, "balance": 14}
    assert gen("admin", "grant", email, "--", "-4").stdout == (
        f"removed 4 credits for {email}; balance now 10\n"
    )
    assert _credits(admin, email) == 10
    missing = gen("admin", "grant", "nobody@example.test", "1", code=1)
    assert missing.stderr.startswith("error: no user 'nobody@example.test'\n")
    table = gen("admin", "trends", "--periods", "2").stdout.splitlines()
    assert table[0].split() == ["day", "images", "users"]


def test_admin_purge_removes_old_generations(gen: Gen, admin: psycopg.Connection[Any]) -> None:
    gen.login()
    old = gen.create("an old picture")
    backdate(admin, "now() - interval '400 days'", "id = %s", (old["id"],))
    declined = gen("admin", "purge", "--older-than", "1y", input="n\n", code=1)
    assert "nothing was removed" in declined.stderr
    assert _exists(admin, old["id"])
    done = gen.json("admin", "purge", "--older-than", "1y", "--yes")
    assert done["generations"] >= 1
    assert not _exists(admin, old["id"])
    assert not Path(old["url"].removeprefix("file://")).exists()


def test_operator_commands_refused_for_a_hosted_profile_without_service_key(
    gen: Gen, monkeypatch: pytest.MonkeyPatch
) -> None:
    del gen.env["DATABASE_URL"]
    gen.env["SUPABASE_URL"] = "https://project.example.invalid"
    gen.env["SUPABASE_ANON_KEY"] = "anon-key"

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for command in (
        ["admin", "stats"],
        ["admin", "grant", "someone@example.test", "5"],
        ["admin", "purge", "--older-than", "90d", "--dry-run"],
    ):
        result = gen(*command, code=1)
        assert result.stderr == (
            "error: operator commands need the service role key\n"
            "hint: set SUPABASE_SERVICE_ROLE_KEY, or DATABASE_URL for a direct connection\n"
        ), command
    result = gen("db", "verify", code=1)
    assert result.stderr.startswith(
        "error: this profile uses a hosted Supabase project, not a direct database\n"
    )
    debug = gen("db", "debug")
    assert debug.stdout.strip().endswith("debug_queries.sql")
    assert "SQL editor of https://project.example.invalid" in debug.stderr


# -- the error edge and output modes ---------------------------------------------------


def test_debug_shows_the_traceback(gen: Gen) -> None:
    gen.login()
    plain = gen("show", "not-an-id", code=1)
    assert "Traceback" not in plain.stderr
    assert len(plain.stderr.splitlines()) == 2
    debug = gen("--debug", "show", "not-an-id", code=1)
    assert "Traceback" in debug.stderr
    assert "InvalidInput" in debug.stderr
    assert debug.stderr.splitlines()[-2] == "error: 'not-an-id' is not a generation id"


def test_no_color_and_forced_color(gen: Gen) -> None:
    gen.login()
    colour = re.compile(r"\x1b\[[0-9;]*3[0-9]")
    gen.env["FORCE_COLOR"] = "1"
    forced = gen("show", "not-an-id", code=1)
    assert colour.search(forced.stderr)
    gen.env["NO_COLOR"] = "1"
    plain = gen("show", "not-an-id", code=1)
    assert not colour.search(plain.stderr)
    without_styles = re.sub(r"\x1b\[[0-9;]*m", "", plain.stderr)
    assert without_styles.startswith("error: 'not-an-id' is not a generation id\n")


def test_json_output_is_only_json(gen: Gen) -> None:
    gen.login()
    record = gen.create("a red fox")
    for command in (
        ["list"],
        ["search", "fox"],
        ["show", record["id"]],
        ["credits"],
        ["stats"],
        ["whoami"],
        ["doctor"],
        ["db", "verify"],
        ["db", "migrate"],
        ["admin", "stats"],
        ["admin", "popular"],
        ["admin", "trends"],
        ["admin", "storage"],
        ["download", record["id"], "-o", "dl"],
        ["export", "exported"],
        ["create", "a blue whale"],
        ["delete", record["id"], "--yes"],
    ):
        result = gen(*command, "--json")
        assert result.stderr == "", command
        json.loads(result.stdout)
