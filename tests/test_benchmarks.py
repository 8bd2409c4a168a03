"""The benchmark suite, in miniature: every section runs on a few thousand rows.

This keeps scripts/benchmark working. It checks what the sections check on the
way (row counts, a balanced ledger, the indexes the plans use, the round trips
of a create, each filtered page against plain SQL) and that the report has
every section; it never looks at a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from benchmarks._context import Options
from benchmarks._dataset import LOADED_TABLES, SECONDARY_INDEXES, TAGS, DataSize
from benchmarks._report import FIXED_HEADINGS, SECTION_TITLES, ServerRun, render
from benchmarks._run import ALL_SECTIONS, HEADLINE_SECTIONS, run_server
from benchmarks._server import Server, machine, url_server
from genvault._migrate import migrate

SIZE = DataSize(generations=3000, users=30, heavy=1000, seed=7)


@dataclass(frozen=True)
class Done:
    run: ServerRun
    report: str


@pytest.fixture(scope="module")
def bench_server(server_url: str) -> Iterator[Server]:
    """A database of its own on the server under test, dropped afterwards."""
    server = url_server(server_url, database=f"genvault_bench_{secrets.token_hex(4)}")
    yield server
    server.drop_database()


@pytest.fixture(scope="module")
def done(bench_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Done:
    """Every section, once, with a handful of runs each."""
    options = Options(
        size=SIZE,
        iterations=4,
        warmup=1,
        slow_iterations=2,
        admin_iterations=1,
        workers=3,
        concurrency_seconds=0.5,
        export_images=8,
        cli_runs=1,
        cli_warmup=0,
        workdir=tmp_path_factory.mktemp("bench"),
        progress=lambda message: None,
    )
    run = run_server(bench_server, options, ALL_SECTIONS)
    return Done(run, render([run], machine(), command="pytest"))


def test_every_section_ran(done: Done) -> None:
    """No section failed: each has figures and no error in their place."""
    assert list(done.run.sections) == list(ALL_SECTIONS)
    failed = {k: s.skipped for k, s in done.run.sections.items() if s.skipped}
    assert failed == {}
    assert all(s.rows for s in done.run.sections.values())


def test_the_data_set_has_its_size_and_a_balanced_ledger(done: Done, bench_server: Server) -> None:
    """Users, generations and the heavy user's share are as asked; every balance is
    the sum of its ledger, with a reservation and a spend behind each generation."""
    counts = done.run.load.counts
    assert counts["users"] >= SIZE.users
    assert counts["generations"] >= SIZE.generations
    with psycopg.connect(bench_server.url) as conn:
        row = conn.execute(
            "select count(*) from public.user_generations where user_id = %s",
            (done.run.load.heavy_user,),
        ).fetchone()
        assert row == (SIZE.heavy,)
        lengths = conn.execute(
            "select min(length(prompt)), max(length(prompt)) from public.user_generations"
        ).fetchone()
    assert lengths is not None
    assert lengths[0] >= 10
    assert lengths[1] <= 400


def test_the_load_rebuilds_every_secondary_index(done: Done, bench_server: Server) -> None:
    """The indexes the load drops and builds again are every index a fresh migration
    makes on the loaded tables that no constraint stands behind, and each build is
    a timed step; all of them are back afterwards."""
    scratch = url_server(bench_server.server_url, database=f"{bench_server.database}_fresh")
    scratch.create_database()
    try:
        migrate(scratch.url)
        with psycopg.connect(scratch.url) as conn:
            fresh = {
                str(name)
                for (name,) in conn.execute(
                    "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid"
                    " where i.indrelid = any (%s::regclass[])"
                    " and not exists (select from pg_constraint k where k.conindid = i.indexrelid)",
                    (list(LOADED_TABLES),),
                ).fetchall()
            }
    finally:
        scratch.drop_database()
    assert set(SECONDARY_INDEXES) == fresh
    steps = done.run.load.steps
    for name in SECONDARY_INDEXES:
        assert f"index {name}" in steps, name
    assert "summaries: genvault_rebuild_summaries()" in steps
    with psycopg.connect(bench_server.url) as conn:
        present = {
            str(n)
            for (n,) in conn.execute(
                "select indexname from pg_indexes where schemaname = 'public'"
            ).fetchall()
        }
    assert set(SECONDARY_INDEXES) <= present
    assert done.run.load.sizes["user_generations_search_idx"] > 0
    assert done.run.load.sizes["user_prompt_counts"] > 0


def test_the_data_set_is_organised(done: Done, bench_server: Server) -> None:
    """Some generations are starred, tagged with the benchmark's tag names, in
    collections and in the trash; tags and items belong to their generation's
    owner; the summaries equal the rows in the history."""
    load = done.run.load
    counts = load.counts
    assert 0 < counts["starred"] < SIZE.generations // 10
    assert 0 < counts["trashed"] < SIZE.generations // 100
    assert counts["tagged_generations"] > SIZE.generations // 20
    assert counts["collection_items"] > 0
    heavy = load.organised
    assert len(heavy["collections"]) == 3
    assert heavy["trashed"] > 0
    with psycopg.connect(bench_server.url) as conn:
        names = {r[0] for r in conn.execute("select distinct tag from public.generation_tags")}
        foreign = conn.execute(
            "select (select count(*) from public.generation_tags t"
            "   join public.user_generations g on g.id = t.generation_id"
            "  where g.user_id <> t.user_id or g.created_at <> t.generation_created_at),"
            " (select count(*) from public.collection_items i"
            "   join public.user_generations g on g.id = i.generation_id"
            "   join public.collections c on c.id = i.collection_id"
            "  where g.user_id <> i.user_id or c.user_id <> i.user_id)"
        ).fetchone()
        mismatched = conn.execute(
            "select count(*) from public.user_generation_totals t full join"
            " (select user_id, count(*) as images, sum(image_bytes) as bytes"
            "    from public.user_generations where trashed_at is null group by 1) g"
            " using (user_id)"
            " where coalesce(t.images, 0) <> coalesce(g.images, 0)"
            "    or coalesce(t.bytes, 0) <> coalesce(g.bytes, 0)"
        ).fetchone()
    assert names <= {t for t, _ in TAGS}
    assert foreign == (0, 0)
    assert mismatched == (0,)


def test_pages_by_cursor_are_the_pages_offset_finds(done: Done) -> None:
    """The deep page by cursor holds the rows OFFSET finds there, through the index."""
    facts = done.run.sections["history"].facts
    assert facts["first_page_rows"] == 50
    assert facts["deep_page_rows"] == 50
    assert facts["offset_matches_cursor"]
    assert facts["cursor_plan_uses_index"]
    assert facts["delete_rows"] == 1


def test_rls_and_service_role_see_the_same_first_page(done: Done) -> None:
    """The user (RLS) and service_role (explicit filter) get the same rows; both
    policy forms count the same rows."""
    facts = done.run.sections["rls"].facts
    assert facts["same_rows"]
    assert facts["policy_counts"] == (SIZE.heavy, SIZE.heavy)
    assert facts["policy_counts_by_rows"] == (SIZE.heavy, SIZE.heavy)


def test_search_finds_what_is_there_and_uses_the_search_index(done: Done) -> None:
    """Each term's first page holds min(50, the user's matches); the step that asks
    the index uses user_generations_search_idx, the user's plan under RLS cannot."""
    facts = done.run.sections["search"].facts
    for term, (mine, _everyone) in facts["matches"].items():
        assert facts["found"][term] == min(50, mine), term
    assert facts["matches"]["narwhal"][0] == 0
    assert facts["search_plan_uses_search_index"]
    assert not facts["rls_plan_uses_search_index"]
    assert facts["term_keys"]["narwhal"] > 0
    assert facts["index_bytes"] > 0


def test_every_filtered_page_is_the_page_plain_sql_finds(done: Done) -> None:
    """Each filter's first page (and a later page by cursor) holds the rows a plain
    query as the table owner finds, in the same order; most filters find rows here."""
    section = done.run.sections["filters"]
    facts = section.facts
    assert facts["correct"]
    assert all(facts["correct"].values()), facts["correct"]
    assert len(facts["correct"]) >= 10
    found = [n for n, rows in facts["rows"].items() if rows > 0]
    assert len(found) >= 8, facts["rows"]
    assert facts["rows"]["The trash"] == done.run.load.organised["trashed"]
    assert any(r.headline and r.target for r in section.rows)
    assert "filters" in HEADLINE_SECTIONS


def test_creates_take_two_round_trips_and_keep_the_books(done: Done) -> None:
    """A create is two round trips (reserve, record); under concurrent workers every
    balance still equals its ledger, no reservation is left open, no create failed."""
    facts = done.run.sections["create"].facts
    assert facts["round_trips_per_create"] <= 3
    assert facts["round_trips_per_list"] == 1
    for key in ("workers_own_users", "workers_one_user"):
        books = facts[key]
        assert books["unbalanced_users"] == 0, key
        assert books["open"] == 0, key
        assert books["errors"] == [], key
        assert books["made"] > 0, key


def test_cli_and_export_ran(done: Done) -> None:
    """gen list showed a page; gen export wrote every image and the manifest."""
    assert done.run.sections["cli"].facts["list_ok"]
    assert done.run.sections["cli"].facts["heavy_list_ok"]
    export = done.run.sections["export"].facts
    assert export["zip_entries"] == export["images"] + 1 == 8 + 1
    assert export["peak_rss_mb"] > 0


def test_statistics_report_the_heavy_user(done: Done) -> None:
    """my_stats counts the heavy user's generations in the history (the summaries
    equal the rows); the top user is the heavy one, trash included."""
    facts = done.run.sections["stats"].facts
    assert facts["my_stats_total"] == SIZE.heavy - done.run.load.organised["trashed"]
    assert facts["my_stats_matches_rows"]
    assert facts["top_user_images"] == SIZE.heavy
    assert facts["my_stats_top"]


def test_report_has_every_section(done: Done, tmp_path: Path) -> None:
    """The report carries the fixed parts and one heading per section, each with a table."""
    for heading in FIXED_HEADINGS:
        assert heading in done.report
    for title in SECTION_TITLES.values():
        assert f"## {title}" in done.report
    assert "This section failed" not in done.report
    assert done.report.count("| Figure |") >= len(SECTION_TITLES) + 1
