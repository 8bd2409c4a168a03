"""The history: newest first, stable pages, literal search, private to its owner,
and every image downloadable and exportable byte for byte."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from genvault import InvalidInput, NotFound
from tests.support.library import ClientOf, ScriptedModel, SignIn, png_bytes


def make_history(gv: Any, prompts: list[str]) -> list[Any]:
    return [
        gv.create(p, model=ScriptedModel(data=png_bytes((i * 7 % 255, 9, 9))))
        for i, p in enumerate(prompts)
    ]


def test_list_pages_newest_first_and_stays_stable_under_inserts(signed_in: SignIn) -> None:
    with signed_in(credits=20) as (_, gv):
        made = make_history(gv, [f"picture {i}" for i in range(7)])
        first = gv.generations.list(limit=3)
        assert [g.id for g in first.items] == [g.id for g in reversed(made)][:3]
        assert first.next_cursor is not None
        make_history(gv, ["inserted meanwhile"])  # must not shift the next page
        second = gv.generations.list(limit=3, before=first.next_cursor)
        assert [g.id for g in second.items] == [g.id for g in reversed(made)][3:6]
        everything = list(gv.generations.iter_all(page_size=2))
        assert len(everything) == 8
        assert everything == sorted(everything, key=lambda g: (g.created_at, g.id), reverse=True)


def test_last_page_has_no_cursor(signed_in: SignIn) -> None:
    with signed_in(credits=2) as (_, gv):
        make_history(gv, ["one", "two"])
        page = gv.generations.list(limit=2)
        assert len(page.items) == 2
        assert page.next_cursor is None


@pytest.mark.parametrize("limit", [0, -1, 501, 10**9])
def test_bad_limits_are_refused(signed_in: SignIn, limit: int) -> None:
    with signed_in() as (_, gv), pytest.raises(InvalidInput):
        gv.generations.list(limit=limit)


def test_malformed_cursor_is_refused(signed_in: SignIn) -> None:
    with (
        signed_in() as (_, gv),
        pytest.raises(InvalidInput, match="cursor"),
    ):
        gv.generations.list(before="not-a-cursor")


def test_search_is_case_insensitive_and_literal(signed_in: SignIn) -> None:
    with signed_in(credits=10) as (_, gv):
        make_history(gv, ["A Red Fox", "100% cotton", "snake_case sign", "back\\slash", "plain"])
        found = lambda text: sorted(g.prompt for g in gv.generations.search(text).items)  # noqa: E731
        assert found("red fox") == ["A Red Fox"]
        assert found("%") == ["100% cotton"]
        assert found("_") == ["snake_case sign"]
        assert found("\\") == ["back\\slash"]
        assert found("'") == []
        with pytest.raises(InvalidInput):
            gv.generations.search("   ")


def test_other_users_ids_look_missing(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=2), make_user(credits=2)
    with client_of(alice) as a:
        secret = a.create("alice's secret", model=ScriptedModel())
    with client_of(bob) as b:
        with pytest.raises(NotFound):
            b.generations.get(secret.id)
        assert b.generations.list().items == []
        assert b.generations.search("secret").items == []
        outcome = b.generations.delete([secret.id])
        assert [o.deleted for o in outcome] == [False]
    with client_of(alice) as a:
        assert a.generations.get(secret.id).id == secret.id
        assert a.generations.read_image(secret)[:4] == b"RIFF"


def test_malformed_id_is_refused(signed_in: SignIn) -> None:
    with (
        signed_in() as (_, gv),
        pytest.raises(InvalidInput, match="not a generation id"),
    ):
        gv.generations.get("1234")


def test_files_are_content_addressed_and_delete_removes_them(
    signed_in: SignIn, tmp_path: Path
) -> None:
    with signed_in(credits=5) as (user, gv):
        gen = gv.create("a lantern", model=ScriptedModel())
        data = gv.generations.read_image(gen)
        assert gen.image_url == f"{user.id}/{hashlib.sha256(data).hexdigest()}.webp"
        assert gen.image_sha256 == hashlib.sha256(data).hexdigest()
        outcome = gv.generations.delete([gen.id, gen.id])
        assert outcome[0].deleted
        assert not (tmp_path / "images" / gen.image_url).exists()
        assert gen.thumbnail_url is not None
        assert not (tmp_path / "images" / gen.thumbnail_url).exists()


def test_a_file_shared_by_two_rows_survives_deleting_one(admin: Any, signed_in: SignIn) -> None:
    """Rows written by other clients may point at the same stored file."""
    with signed_in(credits=5) as (user, gv):
        gen = gv.create("original", model=ScriptedModel())
        admin.execute(
            "insert into public.user_generations (user_id, prompt, image_url) values (%s, %s, %s)",
            (user.id, "copy", gen.image_url),
        )
        gv.generations.delete([gen.id])
        copy = gv.generations.search("copy").items[0]
        assert gv.generations.read_image(copy)[:4] == b"RIFF"


def test_download_writes_the_stored_bytes(signed_in: SignIn, tmp_path: Path) -> None:
    with signed_in(credits=1) as (_, gv):
        gen = gv.create("a teapot", model=ScriptedModel())
        target = gv.generations.download(gen.id, tmp_path)
        assert hashlib.sha256(target.read_bytes()).hexdigest() == gen.image_sha256


def test_export_folder_and_zip_with_manifest_and_resume(signed_in: SignIn, tmp_path: Path) -> None:
    with signed_in(credits=5) as (_, gv):
        made = make_history(gv, ["one", "two", "three"])
        first = gv.export(tmp_path / "out")
        assert (first.images, first.skipped) == (3, 0)
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert {e["prompt"] for e in manifest["generations"]} == {"one", "two", "three"}
        for entry in manifest["generations"]:
            data = (tmp_path / "out" / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["image_sha256"]
        (tmp_path / "out" / manifest["generations"][0]["file"]).unlink()
        again = gv.export(tmp_path / "out")
        assert (again.images, again.skipped) == (3, 2)

        archive = gv.export(tmp_path / "history.zip", as_zip=True, since=made[1].created_at)
        with zipfile.ZipFile(archive.path) as z:
            names = set(z.namelist())
        assert archive.images == 2
        assert "manifest.json" in names
        assert len(names) == 3


def test_stats_count_only_the_callers_images(client_of: ClientOf, make_user: Any) -> None:
    alice, bob = make_user(credits=3), make_user(credits=3)
    with client_of(alice) as a:
        make_history(a, ["cat", "cat", "dog"])
        stats = a.generations.stats()
    with client_of(bob) as b:
        make_history(b, ["bird"])
        assert b.generations.stats()["total"] == 1
    assert stats["total"] == 3
    assert stats["top_prompts"][0] == {"prompt": "cat", "uses": 2}
    assert stats["credits"] == 0


def test_credits_balance_and_ledger(signed_in: SignIn) -> None:
    with signed_in(credits=2) as (_, gv):
        assert gv.credits.balance() == 2
        gv.create("one", model=ScriptedModel())
        assert gv.credits.balance() == 1
        assert gv.credits.has_credits()
        reasons = [e.reason for e in gv.credits.ledger(limit=5)]
        assert reasons[:2] in (["spend", "reserve"], ["reserve", "spend"])


def test_delete_account_removes_everything_of_that_user_only(
    admin: Any, client_of: ClientOf, make_user: Any, tmp_path: Path
) -> None:
    gone, stays = make_user(credits=3), make_user(credits=3)
    with client_of(stays) as s:
        kept = s.create("stays", model=ScriptedModel())
    with client_of(gone) as g:
        make_history(g, ["a", "b"])
        removed = g.delete_account()
    assert removed["generations"] == 2
    assert removed["files"] == 4
    for table in ("user_generations", "credit_ledger", "user_credits"):
        row = admin.execute(
            f"select count(*) as n from public.{table} where user_id = %s", (gone.id,)
        ).fetchone()
        assert row["n"] == 0, table
    assert (
        admin.execute("select count(*) as n from auth.users where id = %s", (gone.id,)).fetchone()[
            "n"
        ]
        == 0
    )
    assert not (tmp_path / "images" / gone.id).exists() or not any(
        (tmp_path / "images" / gone.id).iterdir()
    )
    with client_of(stays) as s:
        assert s.generations.get(kept.id).id == kept.id
