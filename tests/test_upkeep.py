"""Database upkeep as the owner: which migrations a database has, whether one changed
since it was applied, and whether the server answers at all."""

from __future__ import annotations

import psycopg
import pytest

from genvault import BackendUnreachable, Upkeep
from genvault._migrate import MIGRATIONS
from tests.support.database import scratch_database


def test_a_migrated_database_has_nothing_pending(database_url: str) -> None:
    status = Upkeep(database_url).status()
    assert status.pending == []
    assert status.changed == []
    with psycopg.connect(database_url) as conn:
        names = [r[0] for r in conn.execute("select name from genvault_meta.migrations")]
    assert status.applied == len(names)
    assert set(names) <= {m.name for m in MIGRATIONS}


def test_a_blank_database_lists_what_applies_and_a_changed_file_is_named(
    server_url: str,
) -> None:
    with scratch_database(server_url, "gv_upkeep") as url:
        upkeep = Upkeep(url)
        blank = upkeep.status()
        assert blank.applied == 0
        assert blank.pending == [
            m.name for m in MIGRATIONS if not m.plain_postgres_only and not m.needs_storage
        ]
        upkeep.migrate()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update genvault_meta.migrations set checksum = 'edited' where name = 'credits.sql'"
            )
        assert upkeep.status().changed == ["credits.sql"]
        assert upkeep.status().pending == []


def test_the_server_answers_with_its_version(database_url: str) -> None:
    assert Upkeep(database_url).server_version()[:2].isdigit()


def test_an_unreachable_server_is_one_clear_error() -> None:
    gone = Upkeep("postgresql://nobody@127.0.0.1:9/none")
    for call in (gone.server_version, gone.status):
        with pytest.raises(BackendUnreachable, match="could not connect") as caught:
            call()
        assert caught.value.hint == "check DATABASE_URL and that the server is running"
