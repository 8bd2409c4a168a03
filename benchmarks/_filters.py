"""8. Filters: first pages of the heavy user's history under each filter and order.

Each page goes through the library (GenerationsRepo.find, one call of
find_generations), as the user. Each is checked against the same page found by
plain SQL as the table owner, so a fast page is also a right one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks._context import Bench
from benchmarks._results import Row, Section, Target, ms
from benchmarks._stats import Figure, measure
from genvault import HistoryFilter, Page

__all__ = ["DEEP_PAGE", "TARGET", "run"]

PAGE = 50
DEEP_PAGE = 20
TARGET = 0.005
TAG = "wallpaper"
TWO_TAGS = ("portfolio", "wallpaper")
MODEL = "stability-ai/sdxl"
TEXT = "portrait"


@dataclass(frozen=True)
class _Case:
    name: str
    where: HistoryFilter
    sql: str
    """The conditions (after the user's) and the order of the same page in plain SQL."""
    params: tuple[Any, ...] = ()
    order: str = "g.created_at desc, g.id desc"


def _cases(bench: Bench) -> list[_Case]:
    heavy = bench.load.organised
    collections = heavy.get("collections", {})
    largest = max(collections, key=lambda c: collections[c]["images"]) if collections else None
    with bench.owner() as conn:
        newest = conn.execute(
            "select max(created_at) as at from public.user_generations where user_id = %s",
            (bench.heavy_user,),
        ).fetchone()
    assert newest is not None
    assert newest["at"] is not None
    # One calendar month, about a year before the newest row (within the history).
    month_start = (newest["at"] - timedelta(days=365)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    history = "g.trashed_at is null"
    has_tag = (
        "exists (select from public.generation_tags t where t.generation_id = g.id and t.tag = %s)"
    )
    cases = [
        _Case("Starred only", HistoryFilter(starred=True), f"{history} and g.starred"),
        _Case(f"One tag ({TAG!r})", HistoryFilter(tags=(TAG,)), f"{history} and {has_tag}", (TAG,)),
        _Case(
            f"Two tags ({TWO_TAGS[0]!r} and {TWO_TAGS[1]!r})",
            HistoryFilter(tags=TWO_TAGS),
            f"{history} and {has_tag} and {has_tag}",
            TWO_TAGS,
        ),
    ]
    if largest is not None:
        name = collections[largest]["name"]
        cases.append(
            _Case(
                f"A collection ({name!r}, {collections[largest]['images']:,} images)",
                HistoryFilter(collection_id=largest),
                f"{history} and exists (select from public.collection_items i"
                " where i.collection_id = %s and i.generation_id = g.id)",
                (largest,),
            )
        )
    cases += [
        _Case(
            f"A model ({MODEL})",
            HistoryFilter(model=MODEL),
            f"{history} and g.model = %s",
            (MODEL,),
        ),
        _Case(
            f"A date range (one month, {month_start:%B %Y})",
            HistoryFilter(created_from=month_start, created_to=month_end),
            f"{history} and g.created_at >= %s and g.created_at < %s",
            (month_start, month_end),
        ),
        _Case(
            f"Text and starred ({TEXT!r})",
            HistoryFilter(text=TEXT, starred=True),
            f"{history} and g.starred and g.prompt ilike %s",
            (f"%{TEXT}%",),
        ),
        _Case(
            "Oldest first",
            HistoryFilter(sort="oldest"),
            history,
            order="g.created_at asc, g.id asc",
        ),
        _Case(
            "Starred first",
            HistoryFilter(sort="starred"),
            history,
            order="g.starred desc, g.created_at desc, g.id desc",
        ),
        _Case("The trash", HistoryFilter(trash=True), "g.trashed_at is not null"),
    ]
    return cases


def _expected(bench: Bench, case: _Case, *, offset: int = 0) -> list[str]:
    with bench.owner() as conn:
        rows = conn.execute(
            f"select g.id from public.user_generations g where g.user_id = %s and {case.sql}"
            f" order by {case.order} limit {PAGE} offset {offset}",
            (bench.heavy_user, *case.params),
        ).fetchall()
    return [str(r["id"]) for r in rows]


def _ids(page: Page) -> list[str]:
    return [g.id for g in page.items]


def run(bench: Bench) -> Section:
    section = Section("filters", "8. Filters")
    opts = bench.options
    cases = _cases(bench)
    correct: dict[str, bool] = {}
    rows: dict[str, int] = {}
    figures: list[tuple[str, Figure]] = []
    with bench.client(bench.heavy_user) as client:
        repo = client.generations
        for case in cases:
            bench.say(f"filters: {case.name}")
            page = repo.find(case.where, limit=PAGE)
            correct[case.name] = _ids(page) == _expected(bench, case)
            rows[case.name] = len(page.items)
            figure = measure(
                lambda w=case.where: repo.find(w, limit=PAGE),  # type: ignore[misc]
                iterations=opts.iterations,
                warmup=opts.warmup,
            )
            figures.append((case.name, figure))
            section.add(
                Row(
                    case.name,
                    figure,
                    target=Target("≤ 5 ms", figure.median <= TARGET),
                    note=f"{len(page.items)} rows",
                )
            )

        # A deep page by cursor under one filter: the cursor a client holds after
        # reading the pages before it.
        deep_case = next(c for c in cases if c.name.startswith("One tag"))
        bench.say(f"filters: page {DEEP_PAGE} of {deep_case.name} by cursor")
        cursor: str | None = None
        reached = 1
        for _ in range(DEEP_PAGE - 1):
            page = repo.find(deep_case.where, limit=PAGE, before=cursor)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            reached += 1
        section.facts["deep_page"] = reached
        deep_name = f"{deep_case.name}, page {reached} by cursor"
        if cursor is not None:
            page = repo.find(deep_case.where, limit=PAGE, before=cursor)
            correct[deep_name] = _ids(page) == _expected(
                bench, deep_case, offset=(reached - 1) * PAGE
            )
            rows[deep_name] = len(page.items)
            figure = measure(
                lambda c=cursor: repo.find(deep_case.where, limit=PAGE, before=c),  # type: ignore[misc]
                iterations=opts.iterations,
                warmup=opts.warmup,
            )
            figures.append((deep_name, figure))
            section.add(
                Row(
                    deep_name,
                    figure,
                    target=Target("≤ 5 ms", figure.median <= TARGET),
                    note=f"{len(page.items)} rows",
                )
            )
    section.facts["correct"] = correct
    section.facts["rows"] = rows
    worst_name, worst = max(figures, key=lambda f: f[1].median)
    section.add(
        Row(
            "Slowest filtered first page (median)",
            value=f"{ms(worst.median)} ({worst_name})",
            target=Target("≤ 5 ms", worst.median <= TARGET),
            headline=True,
        )
    )
    section.facts["worst"] = worst_name
    _plans(bench, section, [c for c in cases if c.name in dict(figures)], figures)
    section.notes.append(
        "Each page is one call of find_generations (one pipelined round trip) for 51 rows"
        " (a page and the look-ahead row), with each row's tags. Every page shown was"
        " compared with the same page found by plain SQL as the table owner."
    )
    return section


def _plans(
    bench: Bench, section: Section, cases: list[_Case], figures: list[tuple[str, Figure]]
) -> None:
    """The plans find_generations' own statements got for the slowest pages, where
    the server has auto_explain to show them."""
    slowest = sorted(figures, key=lambda f: -f[1].median)[:2]
    by_name = {c.name: c for c in cases}
    with bench.actor("authenticated", bench.heavy_user) as user:
        for name in [n for n, _ in slowest if n in by_name]:
            where = by_name[name].where
            plans = user.nested_plans(
                "select * from public.find_generations(page_size => 51, sort => %s,"
                " search_text => %s, created_from => %s, created_to => %s, with_model => %s,"
                " starred_only => %s, collection_id => %s, with_tags => %s, in_trash => %s)",
                (
                    where.sort,
                    where.text,
                    where.created_from,
                    where.created_to,
                    where.model,
                    where.starred,
                    where.collection_id,
                    list(where.tags) or None,
                    where.trash,
                ),
            )
            if plans is None:
                section.notes.append(
                    "This server has no auto_explain, so the plans of the statements"
                    " find_generations runs are not shown here."
                )
                return
            for i, plan in enumerate(plans, 1):
                section.plans[f"{name}: statement {i} find_generations ran, as the owner"] = plan
