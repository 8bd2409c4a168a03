"""Running the benchmark: prepare each server's data set, run the sections, report."""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from benchmarks import (
    _cli,
    _create,
    _export,
    _filters,
    _history,
    _rls,
    _search,
    _statistics,
)
from benchmarks._context import Bench, Options
from benchmarks._dataset import DataSize, LoadReport, load, loaded_report
from benchmarks._report import ServerRun, write
from benchmarks._results import Section
from benchmarks._schema import reapply
from benchmarks._server import Machine, Server, embedded_server, machine, url_server
from genvault._migrate import migrate

__all__ = ["ALL_SECTIONS", "HEADLINE_SECTIONS", "main", "prepare", "run_server"]

SECTIONS: dict[str, Callable[[Bench], Section]] = {
    # Searches (and text filters) run before anything adds rows: new rows wait
    # in the search index's pending list until a vacuum, which searches then
    # also read.
    "history": _history.run,
    "rls": _rls.run,
    "search": _search.run,
    "filters": _filters.run,
    "stats": _statistics.run,
    "create": _create.run,
    "cli": _cli.run,
    "export": _export.run,
}
ALL_SECTIONS = tuple(SECTIONS)
HEADLINE_SECTIONS = ("history", "rls", "search", "filters", "stats", "create")
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "genvault-benchmarks"


def prepare(server: Server, options: Options) -> LoadReport:
    """The server's data set: loaded now, or (with reuse) kept from an earlier run."""
    if options.reuse and server.database_exists():
        earlier = loaded_report(server.url)
        if earlier is not None and earlier.size == options.size:
            options.progress(f"reusing the data set in {server.database} (SQL applied again)")
            reapply(server.url)
            # Earlier runs added rows: tidy up as autovacuum would in time (this also
            # empties the search index's list of pending entries, which searches read).
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute("vacuum (analyze) public.user_generations, public.credit_ledger")
            return earlier
    server.drop_database()
    server.create_database()
    started = time.perf_counter()
    migrate(server.url)
    migrated = time.perf_counter() - started
    report = load(server.url, options.size, progress=options.progress)
    report.steps = {"schema: genvault's migrations": migrated, **report.steps}
    return report


def run_server(server: Server, options: Options, sections: tuple[str, ...]) -> ServerRun:
    """Load (or reuse) the data set on ``server`` and run ``sections`` there."""
    options.progress(f"== {server.describe()}")
    report = prepare(server, options)
    bench = Bench(server, report, options)
    run = ServerRun(server, report, load_average=(os.getloadavg()[0], 0.0))
    for key in sections:
        try:
            run.sections[key] = SECTIONS[key](bench)
        except Exception as exc:
            traceback.print_exc()
            failed = Section(key, key)
            failed.skipped = f"This section failed: {type(exc).__name__}: {exc}"
            run.sections[key] = failed
    run.load_average = (run.load_average[0], os.getloadavg()[0])
    return run


_SAVED = "last-run.pickle"


@dataclass(frozen=True)
class _Saved:
    """A run's figures, kept in the work directory so the report can be written again."""

    runs: list[ServerRun]
    machine: Machine
    command: str


def _saved(workdir: Path) -> _Saved | None:
    path = workdir / _SAVED
    if not path.exists():
        return None
    saved = pickle.loads(path.read_bytes())  # noqa: S301 (written by this program)
    return saved if isinstance(saved, _Saved) else None


def _options(args: argparse.Namespace) -> Options:
    if args.small:
        options = Options(
            size=DataSize.for_rows(args.rows or 200_000, seed=args.seed),
            iterations=50,
            warmup=10,
            slow_iterations=10,
            admin_iterations=3,
            concurrency_seconds=4.0,
            export_images=200,
            cli_runs=10,
        )
    else:
        size = (
            DataSize.for_rows(args.rows, seed=args.seed) if args.rows else DataSize(seed=args.seed)
        )
        options = Options(size=size)
    if args.iterations:
        options = replace(options, iterations=args.iterations)
    return replace(options, workdir=args.workdir, reuse=args.reuse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/benchmark",
        description="Measure genvault on a large history and write BENCHMARKS.md.",
    )
    parser.add_argument(
        "--small", action="store_true", help="a quick run: 200,000 rows, fewer runs"
    )
    parser.add_argument("--rows", type=int, help="generations in the data set (default 2,000,000)")
    parser.add_argument("--seed", type=int, default=DataSize().seed, help="the data set's seed")
    parser.add_argument(
        "--database-url",
        help="run on this server (a database of its own is created there) instead of"
        " genvault's embedded server",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="URL",
        help="also run the headline sections on this server (repeatable)",
    )
    parser.add_argument(
        "--sections", help=f"comma-separated, from: {', '.join(ALL_SECTIONS)} (default all)"
    )
    parser.add_argument("--iterations", type=int, help="timed runs per fast figure (default 200)")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="the report")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"where the embedded server, images and exports go (default {DEFAULT_WORKDIR})",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a data set of the same size and seed loaded by an earlier run",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report again from the figures of the last run in --workdir",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        saved = _saved(args.workdir)
        if saved is None:
            parser.error(f"no run has been saved in {args.workdir}")
        path = write(args.out, saved.runs, saved.machine, command=saved.command)
        print(f"wrote {path}", file=sys.stderr)
        return 0
    sections = tuple(args.sections.split(",")) if args.sections else ALL_SECTIONS
    unknown = set(sections) - set(ALL_SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    options = _options(args)
    args.workdir.mkdir(parents=True, exist_ok=True)

    primary = (
        url_server(args.database_url)
        if args.database_url
        else embedded_server(args.workdir / "embedded")
    )
    runs = [run_server(primary, options, sections)]
    for url in args.also:
        headline = tuple(s for s in HEADLINE_SECTIONS if s in sections)
        runs.append(run_server(url_server(url), options, headline))
    command = " ".join(["scripts/benchmark", *(argv if argv is not None else sys.argv[1:])])
    done = _Saved(runs, machine(), command)
    (args.workdir / _SAVED).write_bytes(pickle.dumps(done))
    path = write(args.out, runs, done.machine, command=command)
    options.progress(f"wrote {path}")
    failed = [s.key for r in runs for s in r.sections.values() if s.skipped]
    return 1 if failed else 0
