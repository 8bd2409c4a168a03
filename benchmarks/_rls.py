"""2. What Row Level Security costs, and what the ``(select auth.uid())`` form buys.

The first page is run as the user (RLS on) and as service_role with the same
explicit user filter (RLS bypassed), alternately. Then two copies of the
table, identical but for their SELECT policy, show the policy written as
genvault writes it, ``(select auth.uid())::text = user_id``, against the bare
``auth.uid()::text = user_id``: with the select wrapper PostgreSQL computes the
user id once per statement (an InitPlan); without it, once per row it checks.
"""

from __future__ import annotations

from typing import Any

import psycopg

from benchmarks._context import Bench
from benchmarks._results import Section
from benchmarks._stats import measure_pair

__all__ = ["run"]

_FIRST_PAGE = (
    "select g.* from {table} g where g.user_id = %s order by g.created_at desc, g.id desc limit 51"
)
_NO_INDEXES = (
    "select set_config('enable_indexscan', 'off', true),"
    " set_config('enable_bitmapscan', 'off', true),"
    " set_config('enable_indexonlyscan', 'off', true)"
)
_POLICY_ONLY_COUNT = "select count(*) from {table} g"

_COPIES = {
    "wrapped": "(select auth.uid())::text = user_id",
    "bare": "auth.uid()::text = user_id",
}


def _make_copies(conn: psycopg.Connection[Any], bench: Bench) -> None:
    """bench.generations_wrapped and bench.generations_bare: the table's rows, its
    history index, RLS, and one SELECT policy each."""
    conn.execute("create schema if not exists bench")
    conn.execute("grant usage on schema bench to authenticated")
    for kind, using in _COPIES.items():
        table = f"bench.generations_{kind}"
        if conn.execute("select to_regclass(%s)", (table,)).fetchone()["to_regclass"]:  # type: ignore[index]
            continue
        bench.say(f"rls: copying the table for the {kind} policy")
        conn.execute(f"create table {table} (like public.user_generations including defaults)")
        conn.execute(f"insert into {table} select * from public.user_generations")
        conn.execute(f"create index on {table} (user_id, created_at desc, id desc)")
        conn.execute(f"alter table {table} enable row level security")
        conn.execute(
            f'create policy "Users can view their own generations" on {table}'
            f" for select to authenticated using ({using})"
        )
        conn.execute(f"grant select on {table} to authenticated")
        conn.execute(f"vacuum (analyze) {table}")


def run(bench: Bench) -> Section:
    section = Section("rls", "2. Row Level Security")
    opts = bench.options
    heavy = bench.heavy_user
    main = _FIRST_PAGE.format(table="public.user_generations")

    bench.say("rls: first page as the user and as service_role")
    with bench.actor("authenticated", heavy) as user, bench.actor("service_role") as service:
        mine = user.run(main, (heavy,))
        theirs = service.run(main, (heavy,))
        section.facts["same_rows"] = [r["id"] for r in mine] == [r["id"] for r in theirs]
        pair = measure_pair(
            lambda: user.run(main, (heavy,)),
            lambda: service.run(main, (heavy,)),
            iterations=opts.iterations,
            warmup=opts.warmup,
        )
        section.plans["First page as the user (RLS on)"] = user.explain(main, (heavy,))
        section.plans["First page as service_role (RLS bypassed)"] = service.explain(main, (heavy,))
    section.ratio(
        "First page: as the user (RLS) / as service_role with the same filter",
        pair,
        target=1.3,
        target_text="≤ 1.3x",
        headline=True,
    )

    with bench.owner() as conn:
        _make_copies(conn, bench)
    bench.say("rls: bare auth.uid() against (select auth.uid())")
    # (name, query, params, SET LOCAL before it, runs)
    cases = [
        ("First page, explicit user filter", _FIRST_PAGE, (heavy,), "", opts.iterations),
        ("Count of my rows, the policy alone", _POLICY_ONLY_COUNT, (), "", opts.slow_iterations),
        (
            "Count of my rows, the policy checked row by row (sequential scan)",
            _POLICY_ONLY_COUNT,
            (),
            _NO_INDEXES,
            max(3, opts.slow_iterations // 5),
        ),
    ]
    with bench.actor("authenticated", heavy) as user:
        for name, template, params, settings, runs in cases:
            bare = template.format(table="bench.generations_bare")
            wrapped = template.format(table="bench.generations_wrapped")
            if template is _POLICY_ONLY_COUNT:
                counts = (
                    user.run(bare, params, settings=settings)[0]["count"],
                    user.run(wrapped, params, settings=settings)[0]["count"],
                )
                section.facts["policy_counts_by_rows" if settings else "policy_counts"] = counts
            ratio = measure_pair(
                lambda q=bare, p=params, s=settings: user.run(q, p, settings=s),  # type: ignore[misc]
                lambda q=wrapped, p=params, s=settings: user.run(q, p, settings=s),  # type: ignore[misc]
                iterations=runs,
                warmup=1,
            )
            section.ratio(f"{name}: bare auth.uid() / (select auth.uid())", ratio)
        for kind, policy in (
            ("wrapped", "(select auth.uid())::text = user_id"),
            ("bare", "auth.uid()::text = user_id"),
        ):
            query = _POLICY_ONLY_COUNT.format(table=f"bench.generations_{kind}")
            section.plans[f"Count of my rows, policy {policy}"] = user.explain(query)
            section.plans[f"Count of my rows row by row, policy {policy}"] = user.explain(
                query, settings=_NO_INDEXES
            )
    section.notes.append(
        "RLS adds the policy's condition to every query on the table. genvault's functions"
        " also filter on user_id = the caller themselves, so the planner walks the"
        " (user_id, created_at, id) index either way; the policy then costs one evaluation"
        " of (select auth.uid()) per statement."
    )
    section.notes.append(
        "The two forms cost the same while the policy is an index condition: PostgreSQL"
        " computes a stable function such as auth.uid() once when it starts an index scan."
        " They part when the policy is checked row by row, as in a sequential scan (forced"
        " here by turning index scans off for the statement; a policy column without an"
        " index forces it for real): the bare form calls auth.uid() for every row, and each"
        " call reads the request's settings and parses the JWT claims again."
    )
    return section
