"""7. Statistics: the user's own figures (my_stats) and the operators' (admin_*).

my_stats reads the per-user summaries that triggers keep (totals, images per
day, prompt counts); the section also checks them against the rows themselves.
"""

from __future__ import annotations

from benchmarks._context import Bench
from benchmarks._results import Row, Section, at_most
from benchmarks._stats import measure

__all__ = ["run"]

# What the summaries must equal: the user's rows in the history, counted directly.
_FROM_ROWS = (
    "select count(*) as total, coalesce(sum(image_bytes), 0) as bytes"
    " from public.user_generations where user_id = %s and trashed_at is null"
)
_TOP_FROM_ROWS = (
    "select lower(btrim(prompt)) as prompt, count(*) as uses from public.user_generations"
    " where user_id = %s and trashed_at is null group by 1"
    " order by 2 desc, left(lower(btrim(prompt)), 200), 1 limit 5"
)
_TOP_FROM_SUMMARY = (
    "select p.prompt, p.uses from public.user_prompt_counts p where p.user_id = %s"
    " and p.uses > 0 order by p.uses desc, left(p.prompt, 200), p.prompt limit 5"
)
_DAYS_FROM_SUMMARY = (
    "select d.day, d.images from public.user_generation_days d where d.user_id = %s"
    " and d.day >= current_date - 29 and d.images > 0 order by d.day"
)


def run(bench: Bench) -> Section:
    section = Section("stats", "7. Statistics")
    opts = bench.options
    heavy = bench.heavy_user

    bench.say("stats: my_stats of the heavy user")
    with bench.client(heavy) as client:
        figures = client.generations.stats()
        section.facts["my_stats_total"] = figures["total"]
        section.facts["my_stats_top"] = figures["top_prompts"]
        mine = measure(
            lambda: client.generations.stats(),
            iterations=opts.slow_iterations,
            warmup=2,
        )
    section.add(
        Row(
            f"my_stats(), heavy user ({bench.load.size.heavy:,} generations), through the library",
            mine,
            target=at_most(mine.median, 0.050, "≤ 50 ms"),
            headline=True,
        )
    )
    with bench.owner() as conn:
        rows = conn.execute(_FROM_ROWS, (heavy,)).fetchone()
        top = conn.execute(_TOP_FROM_ROWS, (heavy,)).fetchall()
    assert rows is not None
    section.facts["my_stats_matches_rows"] = (
        figures["total"] == rows["total"]
        and figures["bytes"] == rows["bytes"]
        and [(p["prompt"], p["uses"]) for p in figures["top_prompts"]]
        == [(r["prompt"], r["uses"]) for r in top]
    )
    with bench.actor("authenticated", heavy) as user:
        section.plans["my_stats: the most used prompts, from user_prompt_counts, as the user"] = (
            user.explain(_TOP_FROM_SUMMARY, (heavy,))
        )
        section.plans["my_stats: images per day, from user_generation_days, as the user"] = (
            user.explain(_DAYS_FROM_SUMMARY, (heavy,))
        )
    section.notes.append(
        "my_stats reads user_generation_totals (one row), the user's last days of"
        " user_generation_days and the top of user_prompt_counts, and the two ends of"
        " the user's part of the history index for the first and last dates. Statement"
        " triggers on user_generations and credit_ledger keep those tables equal to the"
        " rows; this run checked the heavy user's totals and top prompts against the"
        " rows themselves."
    )

    with bench.operator() as operator:
        admin = operator.admin()
        calls = [
            ("admin_images_per_user (top 50)", lambda: admin.images_per_user(limit=50)),
            ("admin_popular_prompts (top 20)", lambda: admin.popular_prompts(limit=20)),
            ("admin_storage_estimate", admin.storage_estimate),
            ("admin_trends (30 days)", lambda: admin.trends(bucket="day", periods=30)),
            ("admin_trends (104 weeks)", lambda: admin.trends(bucket="week", periods=104)),
        ]
        for name, call in calls:
            bench.say(f"stats: {name}")
            figure = measure(call, iterations=opts.admin_iterations, warmup=1)
            section.add(Row(f"{name}, over the whole table, as service_role", figure))
        section.facts["top_user_images"] = admin.images_per_user(limit=1)[0]["images"]
    return section
