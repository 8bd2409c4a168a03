"""1. History pages: the newest page, a deep page by cursor, and OFFSET beside it."""

from __future__ import annotations

import time

from benchmarks._context import Bench
from benchmarks._results import Row, Section, at_most
from benchmarks._stats import measure_pair, summarize
from genvault._paging import Cursor

__all__ = ["run"]

PAGE = 50
DEEP_PAGE = 1000

_OFFSET_SQL = (
    "select g.* from public.user_generations g where g.user_id = %s"
    " order by g.created_at desc, g.id desc limit %s offset %s"
)
_KEYSET_SQL = "select * from public.list_generations(%s, %s, %s)"
_KEYSET_BODY = (
    "select g.* from public.user_generations g where g.user_id = %s"
    " and (g.created_at, g.id) < (%s, %s) order by g.created_at desc, g.id desc limit %s"
)


def run(bench: Bench) -> Section:
    section = Section("history", "1. History pages")
    opts = bench.options
    heavy = bench.heavy_user
    rows = bench.load.size.heavy
    deep = max(2, min(DEEP_PAGE, rows // PAGE - 1))
    section.facts["deep_page"] = deep
    with bench.owner() as conn:
        # The cursor a client holds after reading pages 1 to deep-1: the last row's key.
        last = conn.execute(
            "select created_at, id from public.user_generations where user_id = %s"
            " order by created_at desc, id desc offset %s limit 1",
            (heavy, (deep - 1) * PAGE - 1),
        ).fetchone()
    assert last is not None
    cursor = Cursor(last["created_at"], str(last["id"])).encode()

    bench.say(f"history: first page and page {deep} by cursor")
    with bench.client(heavy) as client:
        repo = client.generations
        first = repo.list(limit=PAGE)
        deep_page = repo.list(limit=PAGE, before=cursor)
        section.facts["first_page_rows"] = len(first.items)
        section.facts["deep_page_rows"] = len(deep_page.items)
        pair = measure_pair(
            lambda: repo.list(limit=PAGE, before=cursor),
            lambda: repo.list(limit=PAGE),
            iterations=opts.iterations,
            warmup=opts.warmup,
        )
    section.add(
        Row(
            "First page (50 newest of the heavy user), through the library",
            pair.b,
            target=at_most(pair.b.median, 0.003, "≤ 3 ms"),
            headline=True,
        )
    )
    section.add(Row(f"Page {deep} by cursor, through the library", pair.a))
    section.ratio(
        f"Page {deep} by cursor / first page",
        pair,
        target=1.5,
        target_text="≤ 1.5x",
        headline=True,
    )

    bench.say(f"history: page {deep} by OFFSET beside the cursor")
    offset = (deep - 1) * PAGE
    with bench.actor("authenticated", heavy) as user:
        by_offset = user.run(_OFFSET_SQL, (heavy, PAGE + 1, offset))
        by_cursor = user.run(_KEYSET_SQL, (PAGE + 1, last["created_at"], last["id"]))
        section.facts["offset_matches_cursor"] = [r["id"] for r in by_offset] == [
            r["id"] for r in by_cursor
        ]
        against = measure_pair(
            lambda: user.run(_OFFSET_SQL, (heavy, PAGE + 1, offset)),
            lambda: user.run(_KEYSET_SQL, (PAGE + 1, last["created_at"], last["id"])),
            iterations=max(10, opts.iterations // 4),
            warmup=max(2, opts.warmup // 4),
        )
        section.plans[f"Page {deep} by cursor (the query list_generations runs), as the user"] = (
            user.explain(_KEYSET_BODY, (heavy, last["created_at"], last["id"], PAGE + 1))
        )
        section.plans[f"Page {deep} by OFFSET, as the user"] = user.explain(
            _OFFSET_SQL, (heavy, PAGE + 1, offset)
        )
    section.ratio(
        f"Page {deep}: OFFSET {offset} / cursor, same SQL path as the user",
        against,
        note="what a client paging with OFFSET would pay instead",
    )
    plan = next(iter(section.plans.values()))
    section.facts["cursor_plan_uses_index"] = (
        "user_generations_user_created_idx" in plan and "ROW(created_at, id) <" in plan
    )
    section.notes.append(
        "Each page is one call of list_generations: one pipelined round trip (BEGIN,"
        " role and claims, the call, COMMIT). The page after a cursor starts where the"
        " index entry of the cursor's (created_at, id) is, so page 1,000 reads 51 index"
        " entries like page 1 does; OFFSET has to walk and throw away every row before it."
    )
    _delete(bench, section)
    return section


_DELETE = "select * from public.delete_generations(array[%s]::uuid[])"


def _delete(bench: Bench, section: Section) -> None:
    """Deleting one generation of the heavy user, in transactions that are rolled
    back (so the data set stays as it is)."""
    bench.say("history: deleting one generation")
    heavy = bench.heavy_user
    with bench.owner() as conn:
        rows = conn.execute(
            "select id, image_url from public.user_generations where user_id = %s"
            " order by created_at desc limit 200",
            (heavy,),
        ).fetchall()
    ids = [str(r["id"]) for r in rows]
    path = str(rows[0]["image_url"])
    runs = max(3, bench.options.slow_iterations // 3)
    times: list[float] = []
    with bench.actor("authenticated", heavy) as user:
        for gid in ids[: runs + 1]:
            with user.transaction() as conn:
                started = time.perf_counter()
                gone = conn.execute(_DELETE, (gid,)).fetchall()
                times.append(time.perf_counter() - started)
            section.facts["delete_rows"] = len(gone)
        section.plans["What delete_generations checks for each stored path, as the user"] = (
            user.explain(_REFERENCE_CHECK, (heavy, [ids[0]], path, path))
        )
    section.add(
        Row(
            "Delete one generation of the heavy user (delete_generations, as the user)",
            summarize(times[1:]),
            note="the first run untimed; each run rolled back",
        )
    )


# The check genvault_unreferenced_paths makes for one stored path of a deleted
# row: does another row of the owner still use it?
_REFERENCE_CHECK = (
    "select exists (select from public.user_generations o where o.user_id = %s"
    " and not (o.id = any (%s::uuid[])) and (o.image_url = %s or o.thumbnail_url = %s))"
)
