"""The benchmark suite, in miniature: every section runs on a few thousand rows.

This keeps scripts/benchmark working. It checks what the sections check on the
way (row counts, a balanced ledger, the indexes the plans use, the round trips
of a create) and that the report has every section; it never looks at a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from benchmarks._context import Options
from benchmarks._dataset import DataSize
from benchmarks._report import FIXED_HEADINGS, SECTION_TITLES, ServerRun, render
from benchmarks._run import ALL_SECTIONS, run_server
from benchmarks._server import Server, machine, url_server

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


def test_pages_by_cursor_are_the_pages_offset_finds(done: Done) -> None:
    """The deep page by cursor holds the rows OFFSET finds there, through the index."""
    facts = done.run.sections["history"].facts
    assert facts["first_page_rows"] == 50
    assert facts["deep_page_rows"] == 50
    assert facts["offset_matches_cursor"]
    assert facts["cursor_plan_uses_index"]


def test_rls_and_service_role_see_the_same_first_page(done: Done) -> None:
    """The user (RLS) and service_role (explicit filter) get the same rows; both
    policy forms count the same rows."""
    facts = done.run.sections["rls"].facts
    assert facts["same_rows"]
    assert facts["policy_counts"] == (SIZE.heavy, SIZE.heavy)
    assert facts["policy_counts_by_rows"] == (SIZE.heavy, SIZE.heavy)


def test_search_finds_what_is_there_and_uses_the_trigram_index(done: Done) -> None:
    """Each term's first page holds min(50, the user's matches); the owner's plan
    uses the trigram index, the user's plan under RLS cannot."""
    facts = done.run.sections["search"].facts
    for term, (mine, _everyone) in facts["matches"].items():
        assert facts["found"][term] == min(50, mine), term
    assert facts["matches"]["narwhal"][0] == 0
    assert facts["definer_plan_uses_trigram_index"]
    assert not facts["rls_plan_uses_trigram_index"]


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
    """my_stats counts the heavy user's generations; the top user is the heavy one."""
    facts = done.run.sections["stats"].facts
    assert facts["my_stats_total"] == SIZE.heavy
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
