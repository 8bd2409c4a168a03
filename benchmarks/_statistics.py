"""7. Statistics: the user's own figures (my_stats) and the operators' (admin_*)."""

from __future__ import annotations

from benchmarks._context import Bench
from benchmarks._results import Row, Section, at_most
from benchmarks._stats import measure

__all__ = ["run"]

_GROUPED = (
    "select lower(btrim(g.prompt)) as prompt, count(*) as uses, sum(g.image_bytes) as bytes,"
    " min(g.created_at), max(g.created_at) from public.user_generations g"
    " where g.user_id = %s group by 1"
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
    with bench.actor("authenticated", heavy) as user:
        section.plans["The pass over the user's rows that my_stats makes, as the user"] = (
            user.explain(_GROUPED, (heavy,), settings="set local work_mem = '64MB'")
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
