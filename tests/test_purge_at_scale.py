"""Operator purges of more rows than the Supabase API returns from one call.

PostgREST cuts a function's answer at db-max-rows (1000 in supabase/config.toml)
without a word, and the Supabase double cuts it the same way. A purge that
deleted more rows in one call than came back would report too few and leave
the files of the rows past the cut in Storage for good. Here each purge meets
1,334 rows of two users (one file shared by the first and the last row of one
user, so across batches) on both transports, and must report the exact counts
and leave no row and no file behind, and every row and file it must keep.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from genvault import AdminRepo, Client
from genvault._admin import BATCH
from tests.support.database import scratch_database
from tests.support.hosted import HostedBackend, json_body
from tests.support.library import settings_for
from tests.support.supabase_double import configured_max_rows
from tests.support.users import User, create_user

Kind = Literal["trash", "age"]
SIZES = (1234, 100)
"""Rows to purge for each of two users: more than one batch in all."""


@pytest.fixture(scope="module")
def scale_db(server_url: str) -> Iterator[str]:
    """A migrated database of its own, so that the counts are exact."""
    with scratch_database(server_url, prefix="gv_purge_scale") as url:
        from genvault._migrate import migrate

        migrate(url)
        yield url


@pytest.fixture
def owner(scale_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(scale_db, autocommit=True) as conn:
        yield conn


def seed(conn: psycopg.Connection[Any], user: User, n: int, kind: Kind) -> list[str]:
    """``n`` generations of ``user`` that a purge of ``kind`` removes, and one it keeps;
    returns every stored path, the kept row's last. The first and the last doomed
    row share their image file."""
    conn.execute(
        """
        insert into public.user_generations
          (user_id, prompt, image_url, thumbnail_url, created_at, trashed_at)
        select %(user)s, 'prompt ' || i,
               %(user)s || '/' || case when i = %(n)s then 1 else i end || '.png',
               %(user)s || '/' || i || '.thumb.webp',
               case when %(kind)s = 'age' then now() - interval '100 days' + i * interval '1 s'
                    else now() end,
               case when %(kind)s = 'trash' then now() - interval '40 days' + i * interval '1 s'
                    end
          from generate_series(1, %(n)s) as i
        """,
        {"user": user.id, "n": n, "kind": kind},
    )
    conn.execute(
        "insert into public.user_generations (user_id, prompt, image_url, thumbnail_url)"
        " values (%s, 'kept', %s, %s)",
        (user.id, f"{user.id}/kept.png", f"{user.id}/kept.thumb.webp"),
    )
    # What autovacuum would do for a table this size before an operator purges it.
    conn.execute("analyze public.user_generations")
    doomed = {f"{user.id}/{i}.png" for i in range(1, n)}
    doomed |= {f"{user.id}/{i}.thumb.webp" for i in range(1, n + 1)}
    return [*sorted(doomed), f"{user.id}/kept.png", f"{user.id}/kept.thumb.webp"]


def purge(ops: AdminRepo, kind: Kind) -> Any:
    if kind == "trash":
        return ops.purge_trash(timedelta(days=30))
    return ops.purge(timedelta(days=90), dry_run=False)


def left(conn: psycopg.Connection[Any], users: list[User]) -> list[str]:
    rows = conn.execute(
        "select prompt from public.user_generations where user_id = any (%s) order by prompt",
        ([u.id for u in users],),
    ).fetchall()
    return [str(r[0]) for r in rows]


def test_the_double_cuts_answers_at_the_configured_max_rows() -> None:
    """The cap the double applies is the project's, and the purges stay within it."""
    assert configured_max_rows() == 1000
    assert configured_max_rows() >= BATCH


@pytest.mark.parametrize("kind", ["trash", "age"])
def test_a_direct_purge_removes_every_row_and_file(
    kind: Kind, scale_db: str, owner: psycopg.Connection[Any], tmp_path: Path
) -> None:
    users = [create_user(owner) for _ in SIZES]
    paths = [seed(owner, u, n, kind) for u, n in zip(users, SIZES, strict=True)]
    images = tmp_path / "images"
    for path in (p for user_paths in paths for p in user_paths):
        (images / path).parent.mkdir(parents=True, exist_ok=True)
        (images / path).write_bytes(path.encode())
    doomed_files = sum(len(p) - 2 for p in paths)

    with Client(settings_for(scale_db, tmp_path)) as client:
        ops = client.admin()
        if kind == "age":
            dry = ops.purge(timedelta(days=90))
            assert (dry.generations, dry.files, dry.dry_run) == (sum(SIZES), doomed_files, True)
            assert len(left(owner, users)) == sum(SIZES) + 2
        result = purge(ops, kind)

    assert (result.generations, result.files) == (sum(SIZES), doomed_files)
    assert left(owner, users) == ["kept", "kept"]
    remaining = {str(p.relative_to(images)) for p in images.rglob("*") if p.is_file()}
    assert remaining == {p for user_paths in paths for p in user_paths[-2:]}


@pytest.mark.parametrize("kind", ["trash", "age"])
def test_a_hosted_purge_removes_every_row_and_file(
    kind: Kind, scale_db: str, owner: psycopg.Connection[Any], tmp_path: Path
) -> None:
    backend = HostedBackend(tmp_path, scale_db)
    try:
        double = backend.double
        users = [create_user(owner) for _ in SIZES]
        paths = [seed(owner, u, n, kind) for u, n in zip(users, SIZES, strict=True)]
        for path in (p for user_paths in paths for p in user_paths):
            double.store_file("generations", path, path.encode(), "image/png")
        doomed_files = sum(len(p) - 2 for p in paths)

        with Client(backend.settings, http_client=backend.http) as client:
            ops = client.admin()
            if kind == "age":
                dry = ops.purge(timedelta(days=90))
                assert (dry.generations, dry.files) == (sum(SIZES), doomed_files)
            result = purge(ops, kind)

        assert (result.generations, result.files) == (sum(SIZES), doomed_files)
        assert left(owner, users) == ["kept", "kept"]
        stored = {name for (_, name) in double.files if name.split("/")[0] in {u.id for u in users}}
        assert stored == {p for user_paths in paths for p in user_paths[-2:]}
        fn = "admin_purge_trash" if kind == "trash" else "admin_purge_older_than"
        calls = [c for c in backend.sent("POST", f"/rest/v1/rpc/{fn}") if c.url.path.endswith(fn)]
        # Two full batches' worth of rows and one empty answer: nothing was cut.
        assert len(calls) == 3
        assert all(json_body(c)["max_rows"] == BATCH for c in calls)
    finally:
        backend.close()


def test_the_purge_functions_refuse_a_batch_larger_than_the_api_returns(
    owner: psycopg.Connection[Any],
) -> None:
    """max_rows above 1000 would let the API cut the answer: refused, nothing deleted."""
    for call in (
        "select * from public.admin_purge_trash('30 days', 1001)",
        "select * from public.admin_purge_older_than('90 days', false, 1001)",
    ):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="between 1 and 1000"):
            owner.execute(call)


def test_a_history_larger_than_the_api_returns_is_paged_through_whole(
    scale_db: str, owner: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """Pages of the largest size the library allows (it asks for one row more, to know
    whether another page follows) stay under the API's cut: every one of 1,234 rows
    comes back once, in order, with one call per page."""
    from genvault import MAX_PAGE

    backend = HostedBackend(tmp_path, scale_db)
    try:
        account = backend.account()
        user_id = owner.execute(
            "select id::text from auth.users where email = %s", (account.email,)
        ).fetchone()
        assert user_id is not None
        seed(owner, User(user_id[0], account.email), SIZES[0], "age")
        with Client(backend.settings, http_client=backend.http) as client:
            client.sign_in(account.email, account.password)
            walked = [g.id for g in client.generations.iter_all(page_size=MAX_PAGE)]
        expected = owner.execute(
            "select id::text from public.user_generations where user_id = %s"
            " order by created_at desc, id desc",
            (user_id[0],),
        ).fetchall()
        assert walked == [str(r[0]) for r in expected]
        assert len(walked) == SIZES[0] + 1
        calls = backend.sent("POST", "/rest/v1/rpc/list_generations")
        assert len(calls) == -(-len(walked) // MAX_PAGE)
    finally:
        backend.close()
