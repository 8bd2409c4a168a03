"""storage_sharing.sql: a share recipient may read the shared files in Storage, and no more.

Runs on the local layer's storage schema (database/supabase_compat.sql), acting
as each user the way Storage does (role and claims in one transaction), so the
policies on storage.objects decide.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from genvault._migrate import migrate, sql_dir
from tests.support.database import acting_as, scratch_database, storage_request
from tests.support.users import User, create_user, user_claims


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A migrated database of its own (both storage files apply on the local layer)."""
    with scratch_database(server_url, prefix="gv_share_files") as url:
        statuses = {r.name: r.status for r in migrate(url)}
        assert statuses["storage_sharing.sql"] == "applied"
        with psycopg.connect(url, autocommit=True) as connection:
            yield connection


def _generation(conn: psycopg.Connection[Any], owner: User, name: str) -> tuple[str, str]:
    """A generation of ``owner`` with its image and thumbnail in the bucket."""
    gid = str(uuid.uuid4())
    image, thumb = f"{owner.id}/{name}.webp", f"{owner.id}/{name}.thumb.webp"
    conn.execute(
        "insert into public.user_generations (id, user_id, prompt, image_url, thumbnail_url)"
        " values (%s, %s, 'shared prompt', %s, %s)",
        (gid, owner.id, image, thumb),
    )
    conn.execute(
        "insert into storage.objects (bucket_id, name)"
        " values ('generations', %s), ('generations', %s)",
        (image, thumb),
    )
    return gid, image


def _visible(conn: psycopg.Connection[Any], reader: User, names: list[str]) -> set[str]:
    with acting_as(conn, "authenticated", user_claims(reader)):
        rows = conn.execute(
            "select name from storage.objects where name = any (%s)", (names,)
        ).fetchall()
    return {str(r[0]) for r in rows}


def _act(conn: psycopg.Connection[Any], user: User, query: str, args: tuple[Any, ...]) -> None:
    with acting_as(conn, "authenticated", user_claims(user)):
        conn.execute(query, args)


def test_recipient_reads_shared_files_until_unshared(conn: psycopg.Connection[Any]) -> None:
    """A shared image and its thumbnail are readable by the recipient, and stop being
    readable the moment the share ends; the owner's other files never are."""
    owner, recipient, stranger = (create_user(conn) for _ in range(3))
    shared, shared_path = _generation(conn, owner, "shared")
    _, private_path = _generation(conn, owner, "private")
    names = [shared_path, shared_path.replace(".webp", ".thumb.webp"), private_path]

    assert _visible(conn, recipient, names) == set()
    _act(conn, owner, "select * from public.share_with(%s, %s)", (recipient.email, shared))
    assert _visible(conn, recipient, names) == set(names[:2])
    assert _visible(conn, stranger, names) == set()

    share_id = conn.execute(
        "select id from public.shares where generation_id = %s", (shared,)
    ).fetchone()
    assert share_id is not None
    _act(conn, owner, "select public.unshare(%s)", (share_id[0],))
    assert _visible(conn, recipient, names) == set()


def test_collection_share_covers_its_items_but_not_trashed_ones(
    conn: psycopg.Connection[Any],
) -> None:
    """Sharing a collection shares the files of its images; trashing one hides it again."""
    owner, recipient = create_user(conn), create_user(conn)
    first, first_path = _generation(conn, owner, "first")
    second, second_path = _generation(conn, owner, "second")
    with acting_as(conn, "authenticated", user_claims(owner)):
        collection = conn.execute("select id from public.create_collection('Shared')").fetchone()
        assert collection is not None
        conn.execute(
            "select public.add_to_collection(%s, %s::uuid[])", (collection[0], [first, second])
        )
        conn.execute(
            "select * from public.share_with(%s, collection_id => %s)",
            (recipient.email, collection[0]),
        )
    assert _visible(conn, recipient, [first_path, second_path]) == {first_path, second_path}

    _act(conn, owner, "select public.trash_generations(%s::uuid[])", ([second],))
    assert _visible(conn, recipient, [first_path, second_path]) == {first_path}


def test_recipient_cannot_change_or_delete_shared_files(conn: psycopg.Connection[Any]) -> None:
    """The share is read-only in Storage too: updates and deletes find nothing."""
    owner, recipient = create_user(conn), create_user(conn)
    gid, path = _generation(conn, owner, "kept")
    _act(conn, owner, "select * from public.share_with(%s, %s)", (recipient.email, gid))
    with storage_request(conn, user_claims(recipient)):
        updated = conn.execute(
            "update storage.objects set name = name || '.x' where name = %s returning id", (path,)
        ).fetchall()
        deleted = conn.execute(
            "delete from storage.objects where name = %s returning id", (path,)
        ).fetchall()
    assert (updated, deleted) == ([], [])
    still = conn.execute("select count(*) from storage.objects where name = %s", (path,)).fetchone()
    assert still == (1,)


def test_storage_sharing_applies_twice(conn: psycopg.Connection[Any]) -> None:
    """Pasting the file again leaves exactly one recipients' policy, for authenticated."""
    conn.execute((sql_dir() / "storage_sharing.sql").read_text().encode())
    rows = conn.execute(
        "select cmd, roles from pg_catalog.pg_policies where schemaname = 'storage'"
        " and policyname = 'Share recipients can view shared generation files'"
    ).fetchall()
    assert rows == [("SELECT", ["authenticated"])]
