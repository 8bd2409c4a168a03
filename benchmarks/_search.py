"""3. Search: a case-insensitive substring of the heavy user's prompts.

Each term is searched through the library (search_generations, which
find_generations answers: the first page of 50 matches, newest first). It
looks at the newest 2,000 rows of the user first and, when they hold no full
page, takes the candidates user_generations_search_idx gives for the user and
the term. Beside it runs what a user's search can do under Row Level Security
without that index: the same query as the user, which PostgreSQL can only
answer by walking the user's rows (ILIKE is not leakproof, so it is never
pushed below the policy into an index scan).
"""

from __future__ import annotations

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

_UNINDEXED = (
    "select g.* from public.user_generations g where g.user_id = %s and g.trashed_at is null"
    " and g.prompt ilike %s order by g.created_at desc, g.id desc limit 51"
)
# The two steps find_generations takes for a text (database/organising.sql), as
# the table owner it runs as: the newest 2,000 rows of the user, and when they
# hold no full page, the candidates of the search index.
_NEWEST = (
    "select w.id from (select g.id, g.created_at, g.prompt from public.user_generations g"
    " where g.user_id = %s and g.trashed_at is null order by g.created_at desc, g.id desc"
    " limit 2000) w where w.prompt ilike %s order by w.created_at desc, w.id desc"
)
_CANDIDATES = (
    "with candidates as materialized (select g.* from public.user_generations g"
    " where public.genvault_search_keys(g.user_id, g.prompt) @> %s::integer[])"
    " select g.id from candidates g where g.user_id = %s and g.trashed_at is null"
    " and g.prompt ilike %s order by g.created_at desc, g.id desc limit 51"
)
_INDEX = "user_generations_search_idx"


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
                "select count(*) filter (where user_id = %s and trashed_at is null) as mine,"
                " count(*) as everyone"
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
                        f" as the user under RLS (no search index) {ms(side.a.median)},"
                        f" {side.of_medians:.1f}x the time (n={side.a.n})"
                    ),
                )
            )
        section.facts["found"] = found
    section.add(
        Row(
            "Slowest search term of 3+ characters (median)",
            value=ms(worst),
            target=Target("≤ 20 ms", worst <= TARGET),
            headline=True,
        )
    )

    bench.say("search: plans")
    with bench.actor("authenticated", heavy) as user, bench.actor("none", heavy) as owner:
        keys = {
            term: owner.run(
                "select public.genvault_search_term_keys(%s, %s) as keys", (heavy, term)
            )[0]["keys"]
            for term in ("narwhal", "lighthouse", "owl")
        }
        section.plans["'owl', step 1: the user's newest 2,000 rows (as the owner)"] = owner.explain(
            _NEWEST, (heavy, _pattern("owl"))
        )
        for term in ("narwhal", "lighthouse"):
            section.plans[f"{term!r}, step 2: the search index's candidates (as the owner)"] = (
                owner.explain(_CANDIDATES, (keys[term], heavy, _pattern(term)))
            )
        section.plans["'narwhal' as the user under RLS (what the index cannot serve)"] = (
            user.explain(_UNINDEXED, (heavy, _pattern("narwhal")))
        )
    step2 = [p for name, p in section.plans.items() if "step 2" in name]
    section.facts["search_plan_uses_search_index"] = bool(step2) and all(_INDEX in p for p in step2)
    section.facts["rls_plan_uses_search_index"] = (
        _INDEX in (section.plans["'narwhal' as the user under RLS (what the index cannot serve)"])
    )
    section.facts["term_keys"] = {term: len(k or []) for term, k in keys.items()}
    with bench.owner() as conn:
        size = conn.execute(
            "select pg_relation_size(%s::regclass) as index,"
            " pg_relation_size('public.user_generations') as tbl",
            (f"public.{_INDEX}",),
        ).fetchone()
    assert size is not None
    section.facts["index_bytes"] = int(size["index"])
    section.notes.append(
        f"{_INDEX} (trigrams hashed with the owner's bucket, GIN):"
        f" {int(size['index']) / 1e6:,.0f} MB, beside {int(size['tbl']) / 1e6:,.0f} MB of"
        " user_generations."
    )
    return section
