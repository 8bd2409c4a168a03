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
    "filters": "8. Filters",
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
    "history": [
        "Deleting a generation (no target) asks, for each of its two stored files,"
        " whether another row of the owner still uses it, since the local store keeps"
        " identical files once. Hash indexes on image_url and thumbnail_url"
        " (database/history_at_scale.sql) answer each question with an index probe"
        " (see the plan); before them it read the owner's whole history, the better part"
        " of a second for the heavy user.",
    ],
    "search": [
        "search_generations (answered by find_generations) runs as SECURITY DEFINER and"
        " filters on user_id = the caller itself (see database/organising.sql for"
        " the whole argument). As the invoker, under RLS, ILIKE is not leakproof, so"
        " PostgreSQL applies the policy first and can never use an index for it: the plan"
        " labelled 'as the user under RLS' walks every one of the user's rows for a term"
        " they never used.",
        "The search index holds, for each prompt, its trigrams hashed together with one"
        " of 64 buckets of the owner's id, so a term's posting lists hold the rows of the"
        " caller's bucket only, about 1/64 of everyone's; hash collisions only let extra"
        " rows through to the ILIKE that always follows. Search takes two steps, because"
        " no estimate can tell where in a history the matches are: the newest 2,000 rows"
        " of the caller first (a full page there ends the search), else every candidate"
        " the index gives, materialised and sorted (see the plans). A term under 3"
        " letters has no inner trigram and walks the history.",
    ],
    "filters": [
        "find_generations builds one statement per call so that the planner reads rows"
        " already in the page's order and stops after a page: a tag pages from"
        " generation_tags and a collection from collection_items (both keep their"
        " generation's created_at for this), starred rows from a partial index, the"
        " trash from another, and the rest from the (user_id, created_at, id) history"
        " index. 'Starred first' is two such walks merged; a second tag, a text or a"
        " model is checked row by row on the walk, so its cost grows with how rare the"
        " combination is among the rows walked.",
    ],
    "stats": [
        "my_stats no longer reads the user's generations: per-row triggers on"
        " user_generations (insert, update, delete) and on credit_ledger keep per-user"
        " totals, images per day and prompt counts, and my_stats reads a handful of"
        " their rows (see the plans). The load filled them once with"
        " genvault_rebuild_summaries() after loading with triggers off.",
        "admin_purge_older_than is not timed: it is a retention action rather than a figure.",
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
    "**list_generations: planned for each call** (database/generations.sql)."
    " PL/pgSQL switches a statement to a generic plan after five calls, a plan made for"
    " no user in particular. For the heavy user that plan could not use the cursor as an"
    " index condition (`before_created_at is null or (created_at, id) < (...)` stays an"
    " OR) or sorted all of their rows, so page 1,000 took about 150 ms instead of about"
    " 1 ms. `set plan_cache_mode = force_custom_plan` plans each call for its own"
    " values, for about a tenth of a millisecond of planning.",
    "**Search: trigrams indexed with their owner, in two steps**"
    " (database/history_at_scale.sql). The plain trigram index knew which prompts held"
    " a term's trigrams but not whose they were: a term in a few hundred of the heavy"
    " user's prompts and thousands of other users' made PostgreSQL read long posting"
    " lists of everyone's rows and intersect them with the user's 100,000 history"
    " entries. user_generations_search_idx is a GIN index over"
    " genvault_search_keys(user_id, prompt): each trigram's 24-bit hash with a 6-bit"
    " bucket of the owner above it, so a search reads its caller's bucket only. It"
    " replaces user_generations_prompt_trgm_idx (no extension beyond pg_trgm is"
    " needed). search_generations reads the caller's newest 2,000 rows first and only"
    " when they hold no full page takes the index's candidates; the prompt column's"
    " statistics went back to the default, since no plan choice depends on them.",
    "**my_stats: summaries kept by triggers** (database/history_at_scale.sql)."
    " user_generation_totals, user_generation_days and user_prompt_counts are kept by"
    " per-row triggers whose statements run from cached plans (about 0.15 ms a row;"
    " a first version built its statements as text and planned eight of them on every"
    " insert, 1.7 ms a create, and 16 workers made 164 creates a second), and a spend"
    " counter on credit_ledger; genvault_rebuild_summaries() recomputes them in plain"
    " set-based SQL for operators. my_stats reads them instead of every one of the"
    " caller's rows.",
    "**Delete: hash indexes on the stored paths** (database/history_at_scale.sql)."
    ' The "is this file still used" check of delete, the trash purge and retention'
    " is an index probe on image_url or thumbnail_url instead of a walk of the"
    " owner's history.",
    "**Filters: one function for every filter and order** (database/organising.sql)."
    " find_generations picks the walk that returns rows in the page's order (tag,"
    " collection, starred, trash or history index) and applies the other filters on"
    " it; tags and collection items keep their generation's created_at (kept equal by"
    " the foreign key) so that they page without reading user_generations first.",
]

MISSED: dict[str, str] = {
    "search": (
        "**Search.** A term above 20 ms is one the newest 2,000 rows do not settle and"
        " whose candidates in the caller's bucket are many: the second step reads and"
        " re-checks every candidate of the bucket (the owner's and those of the other"
        " users in the same 1/64 of ids), whatever the page needs. The plans of section"
        " 3 show how many candidates each step read."
    ),
    "stats": (
        "**my_stats.** The figures come from the summaries; a time above 50 ms means"
        " one of the reads in the plans of section 7 is not the index read it should be"
        " (or the summaries were not rebuilt after a load with triggers off)."
    ),
    "create": (
        "**Creates per second with 16 workers.** Each create inserts into the history's"
        " indexes (the search index takes about a hundred keys a prompt) and runs the"
        " summary trigger's three small upserts; with 16 workers on 2 cores that server"
        " time is what limits throughput, the more so while other work shares the"
        " machine (see the load averages under Servers)."
    ),
    "cli": (
        "**gen --help and gen list.** Both figures are mostly start-up: Python importing"
        " genvault's command modules and Typer reading every command's parameters before"
        " any command runs. The command modules keep their annotations evaluated (no"
        " `from __future__ import annotations`), which took a tenth off; importing a"
        " command group's module only when one of its commands runs would take more."
        " The load averages under Servers show how much else the machine was doing."
    ),
    "filters": (
        "**Filtered pages.** A filter that is not the walk's own index (a second tag, a"
        " text, a model) is checked along the walk, and a page needs as many rows walked"
        " as it takes to find 50 that pass. What each missed page needs, from its plan"
        " (shown in section 8 where the server has auto_explain):"
    ),
}

# Why a particular figure is missed, and the change that would meet it: shown
# under MISSED[section] for each missed row whose name starts with the key.
MISSED_ROWS: dict[str, dict[str, str]] = {}

_NO_REMEDY = (
    "No explanation is recorded for this section yet: the plans in its part of the"
    " report show where the time goes."
)


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


def _sizes(load: LoadReport) -> list[str]:
    """Tables (with their indexes) and the indexes of user_generations, by size."""
    if not load.sizes:
        return []
    lines = ["| Table or index | Size |", "|---|---|"]
    lines += [f"| {_cell(name)} | {bytes_ / 1e6:,.1f} MB |" for name, bytes_ in load.sizes.items()]
    return [*lines, ""]


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
        " balance equals the sum of its ledger. About 2% of generations are starred and"
        " 10% tagged (a few tag names, a few far more used than the rest; some rows"
        " carry two), a few rows are in the trash; the heavy user has three"
        " collections (the largest with 1% of their history) and some other users one."
        " Rows and ledger are loaded with triggers off; the per-user summaries that"
        " my_stats reads are then computed once by genvault_rebuild_summaries().",
        "",
    ]
    for run in runs:
        counts = run.load.counts
        out += [
            f"### Load on {run.server.describe()}",
            "",
            f"Loaded at {run.load.loaded_at} (UTC)."
            f" {counts.get('generations', 0):,} generations, {counts.get('users', 0):,} users,"
            f" {counts.get('ledger_rows', 0):,} ledger rows; {counts.get('starred', 0):,}"
            f" starred, {counts.get('trashed', 0):,} in the trash,"
            f" {counts.get('tags', 0):,} tags on {counts.get('tagged_generations', 0):,}"
            f" generations, {counts.get('collections', 0):,} collections holding"
            f" {counts.get('collection_items', 0):,} images,"
            f" {counts.get('prompt_counts', 0):,} rows of prompt counts.",
            "",
            *_sizes(run.load),
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
                out += [
                    f"<details><summary>Plan: {name}</summary>",
                    "",
                    "```",
                    plan,
                    "```",
                    "",
                    "</details>",
                    "",
                ]
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
            out += [MISSED.get(key, f"**{SECTION_TITLES[key]}.** {_NO_REMEDY}"), ""]
            causes = MISSED_ROWS.get(key, {})
            named = dict.fromkeys(
                prefix
                for section_key, _, row in missed
                if section_key == key
                for prefix in causes
                if row.name.startswith(prefix)
            )
            out += [f"- {causes[prefix]}" for prefix in named]
            if named:
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def write(path: Path, runs: list[ServerRun], machine: Machine, *, command: str) -> Path:
    path.write_text(render(runs, machine, command=command))
    return path
