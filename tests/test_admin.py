"""Operator functions through the library: retention purge, grants, figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from genvault import AdminRepo, Client, InvalidInput, NotFound, PermissionDenied, Settings
from tests.support.database import backdate
from tests.support.library import ClientOf, ScriptedModel, settings_for


@pytest.fixture
def ops(database_url: str, tmp_path: Path) -> Iterator[AdminRepo]:
    """Operator functions over a direct connection (the embedded default's case)."""
    with Client(settings_for(database_url, tmp_path)) as client:
        yield client.admin()


def test_purge_removes_only_old_generations_and_their_files(
    admin: Any, client_of: ClientOf, make_user: Any, tmp_path: Path, ops: AdminRepo
) -> None:
    user = make_user(credits=3)
    with client_of(user) as gv:
        old = gv.create("old", model=ScriptedModel())
        new = gv.create("new", model=ScriptedModel())
    backdate(admin, "now() - interval '100 days'", "id = %s", (old.id,))
    dry = ops.purge(timedelta(days=90))
    assert dry.dry_run
    assert dry.generations >= 1
    assert (tmp_path / "images" / old.image_url).exists()

    done = ops.purge(timedelta(days=90), dry_run=False)
    assert done.generations >= 1
    assert not (tmp_path / "images" / old.image_url).exists()
    assert (tmp_path / "images" / new.image_url).exists()
    with client_of(user) as gv:
        assert [g.id for g in gv.generations.list().items] == [new.id]
    with pytest.raises(InvalidInput):
        ops.purge(timedelta(hours=1))


def test_grant_by_email_or_id(make_user: Any, ops: AdminRepo) -> None:
    user = make_user(credits=1)
    assert ops.grant(user.email.upper(), 5) == 6
    assert ops.grant(user.id, -2) == 4
    with pytest.raises(NotFound):
        ops.grant("nobody@example.test", 1)
    with pytest.raises(InvalidInput):
        ops.grant(user.id, -100)


def test_figures_cover_every_user(client_of: ClientOf, make_user: Any, ops: AdminRepo) -> None:
    alice, bob = make_user(credits=2), make_user(credits=2)
    for user in (alice, bob):
        with client_of(user) as gv:
            gv.create("a shared idea", model=ScriptedModel())
    users = {r["user_id"] for r in ops.images_per_user(limit=10000)}
    assert {alice.id, bob.id} <= users
    popular = {r["prompt"]: r for r in ops.popular_prompts(limit=10000)}
    assert popular["a shared idea"]["users"] >= 2
    assert ops.storage_estimate()["images"] >= 2
    assert len(ops.trends(bucket="week", periods=4)) == 4


def test_hosted_profile_without_service_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, supabase_url="https://example.supabase.co", supabase_key="anon"
    )
    with pytest.raises(PermissionDenied, match="service role key"):
        Client(settings).admin()
