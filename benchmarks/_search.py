"""3. Search: a case-insensitive substring of the heavy user's prompts.

Each term is searched through the library (search_generations: the first page
of 50 matches, newest first). Beside it runs what a user's search can do under
Row Level Security without the trigram index: the same query as the user, which
PostgreSQL can only answer by walking the user's rows (ILIKE is not leakproof,
so it is never pushed below the policy into an index scan).
"""

from __future__ import annotations

import time

from benchmarks._context import Bench
from benchmarks._results import Row, Section, Target, ms
from benchmarks._stats import measure, measure_pair

__all__ = ["TERMS", "run"]

# (term, what kind of term it is). The heavy user's prompts come from the same
# word lists as everyone's, except four animals only the others mention.
TERMS: list[tuple[str, str]] = [
    ("cat", "3 letters, very common (cat, cathedral, delicate)"),
    ("owl", "3 letters (owl, bowl)"),
    ("koi", "3 letters, a subject"),
    ("portrait", "a common modifier"),
    ("kodak", "a film name in a common modifier"),
    ("zebra", "a subject"),
    ("lighthouse", "a subject made of common trigrams (light, high)"),
    ("typewriter", "a subject"),
    ("velvet teapot", "two words, rare together"),
    ("narwhal", "only in other users' prompts"),
    ("qzx", "in nobody's prompts"),
]
SHORT_TERMS: list[tuple[str, str]] = [
    ("ox", "2 letters: no trigram to look up"),
    ("a", "1 letter"),
]
TARGET = 0.020

_AS_SEARCH_RUNS = "select set_config('work_mem', '32MB', true)"
_UNINDEXED = (
    "select g.* from public.user_generations g where g.user_id = %s and g.prompt ilike %s"
    " order by g.created_at desc, g.id desc limit 51"
)


def _pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def run(bench: Bench) -> Section:
    section = Section("search", "3. Search")
    opts = bench.options
    heavy = bench.heavy_user
    worst = 0.0
    counts: dict[str, tuple[int, int]] = {}
    with bench.owner() as conn:
        for term, _ in TERMS + SHORT_TERMS:
            row = conn.execute(
                "select count(*) filter (where user_id = %s) as mine, count(*) as everyone"
                " from public.user_generations where prompt ilike %s",
                (heavy, _pattern(term)),
            ).fetchone()
            assert row is not None
            counts[term] = (int(row["mine"]), int(row["everyone"]))
    section.facts["matches"] = counts

    with bench.client(heavy) as client, bench.actor("authenticated", heavy) as user:
        repo = client.generations
        found: dict[str, int] = {}
        for term, kind in TERMS + SHORT_TERMS:
            bench.say(f"search: {term!r}")
            found[term] = len(repo.search(term, limit=50).items)
            figure = measure(
                lambda t=term: repo.search(t, limit=50),  # type: ignore[misc]
                iterations=max(10, opts.iterations // 2),
                warmup=max(2, opts.warmup // 4),
            )
            side = measure_pair(
                lambda t=term: user.run(_UNINDEXED, (heavy, _pattern(t))),  # type: ignore[misc]
                lambda t=term: repo.search(t, limit=50),  # type: ignore[misc]
                iterations=max(3, opts.slow_iterations // 3),
                warmup=1,
            )
            mine, everyone = counts[term]
            counted = len(term) >= 3
            if counted:
                worst = max(worst, figure.median)
            section.add(
                Row(
                    f"{term!r}: {kind}",
                    figure,
                    target=Target("≤ 20 ms", figure.median <= TARGET) if counted else None,
                    note=(
                        f"{mine:,} of the user's rows match, {everyone:,} of all rows;"
                        f" as the user under RLS (no trigram index) {ms(side.a.median)},"
                        f" {side.of_medians:.1f}x the time (n={side.a.n})"
                    ),
                )
            )
        section.facts["found"] = found
    section.add(
        Row(
            "Search, slowest term of 3+ characters (median)",
            value=ms(worst),
            target=Target("≤ 20 ms", worst <= TARGET),
            headline=True,
        )
    )

    bench.say("search: plans")
    with bench.actor("authenticated", heavy) as user, bench.actor("none", heavy) as owner:
        for term in ("narwhal", "owl", "lighthouse"):
            pattern = _pattern(term)
            section.plans[f"{term!r} as search_generations runs it (table owner, user filter)"] = (
                owner.explain(_UNINDEXED, (heavy, pattern), settings="set local work_mem = '32MB'")
            )
        section.plans["'narwhal' as the user under RLS (what the index cannot serve)"] = (
            user.explain(_UNINDEXED, (heavy, _pattern("narwhal")))
        )
    section.facts["definer_plan_uses_trigram_index"] = "user_generations_prompt_trgm_idx" in next(
        iter(section.plans.values())
    )
    section.facts["rls_plan_uses_trigram_index"] = (
        "user_generations_prompt_trgm_idx"
        in (section.plans["'narwhal' as the user under RLS (what the index cannot serve)"])
    )
    _composite(bench, section)
    return section


_COMPOSITE = "bench_user_prompt_trgm"


def _composite(bench: Bench, section: Section) -> None:
    """Where the btree_gin extension is available, what a trigram index that also
    holds the user would give: built for the measurement and dropped after it."""
    with bench.owner() as conn:
        available = conn.execute(
            "select 1 from pg_available_extensions where name = 'btree_gin'"
        ).fetchone()
        if available is None:
            section.notes.append(
                "This server has no btree_gin extension, so a trigram index that also holds"
                " the user (see the targets missed) could not be tried here."
            )
            return
        bench.say("search: trying a (user_id, prompt) trigram index (btree_gin)")
        conn.execute("create extension if not exists btree_gin with schema extensions")
        conn.execute("set maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        conn.execute(
            f"create index if not exists {_COMPOSITE} on public.user_generations"
            " using gin (user_id, prompt extensions.gin_trgm_ops)"
        )
        built = time.perf_counter() - started
        conn.execute("analyze public.user_generations")
        size = conn.execute(
            "select pg_relation_size(%s::regclass) as bytes", (f"public.{_COMPOSITE}",)
        ).fetchone()
    try:
        worst = 0.0
        with bench.actor("none", bench.heavy_user) as owner:
            for term, _ in TERMS:
                args = (bench.heavy_user, _pattern(term))
                figure = measure(
                    lambda a=args: owner.run(_UNINDEXED, a, settings=_AS_SEARCH_RUNS),  # type: ignore[misc]
                    iterations=max(5, bench.options.iterations // 4),
                    warmup=2,
                )
                worst = max(worst, figure.median)
                section.add(
                    Row(f"{term!r} with a (user_id, prompt) trigram index (btree_gin)", figure)
                )
            section.plans[
                "'lighthouse' with a (user_id, prompt) trigram index (btree_gin), as the owner"
            ] = owner.explain(
                _UNINDEXED,
                (bench.heavy_user, _pattern("lighthouse")),
                settings="set local work_mem = '32MB'",
            )
        section.facts["composite_worst"] = worst
        bytes_ = int(size["bytes"]) if size else 0
        section.notes.append(
            f"Tried on this server only: a (user_id, prompt) trigram index took {built:.0f} s"
            f" to build and {bytes_ / 1e6:,.0f} MB; with it the slowest term took {ms(worst)}"
            " (the statement search_generations runs, as the owner). It was dropped afterwards."
        )
    finally:
        with bench.owner() as conn:
            conn.execute(f"drop index if exists public.{_COMPOSITE}")
