"""5. The command line: ``gen --help`` and ``gen list``, as separate processes.

Each run is a new process, as when a person types the command: Python starts,
genvault is imported, settings and the session are read, and for ``gen list``
the running embedded server is found and asked for the first page. The server
is warm (started before, and left running, as genvault leaves it).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from benchmarks._context import Bench
from benchmarks._dataset import PromptMaker
from benchmarks._processes import cli_env, run_command, run_gen
from benchmarks._results import Row, Section, at_most
from benchmarks._stats import Figure, summarize
from genvault import Client, Settings
from genvault._session import Session, SessionStore

__all__ = ["cli_setup", "run"]

IMAGES = 25

BARE_IMPORTS = "import typer, psycopg, rich"
"""What any command line of this kind imports: the yardstick of the start-up ratios."""

RATIOS = (
    ("gen --help", ["--help"], 1.2),
    ("gen list", ["list"], 1.5),
    ("gen create (offline model)", ["create", "a lighthouse at dusk", "--json"], 2.0),
)
"""Each command, its arguments, and the most it may take as a multiple of the bare imports."""


def cli_setup(bench: Bench) -> tuple[dict[str, str], Path]:
    """The environment a user's shell would have, and a working folder for it.

    On the embedded server this is genvault's own data directory (no
    DATABASE_URL), so the command finds the running server as it always does.
    """
    workdir = bench.options.workdir / f"cli-{bench.server.name.replace(':', '-')}"
    workdir.mkdir(parents=True, exist_ok=True)
    home = bench.server.embedded_home or workdir / "home"
    database_url = None if bench.server.embedded_home else bench.url
    return cli_env(home, database_url), workdir


def _timed_runs(args: list[str], env: dict[str, str], cwd: Path, runs: int, warmup: int) -> Figure:
    for _ in range(warmup):
        run_gen(args, env, cwd=cwd)
    times = []
    for _ in range(runs):
        done = run_gen(args, env, cwd=cwd)
        if done.returncode != 0:
            raise RuntimeError(f"gen {' '.join(args)} failed: {done.stderr[-500:]}")
        times.append(done.seconds)
    return summarize(times)


def run(bench: Bench) -> Section:
    section = Section("cli", "5. The command line")
    opts = bench.options
    env, cwd = cli_setup(bench)

    bench.say("cli: gen login --local bench, then some images")
    done = run_gen(["login", "--local", "bench"], env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"gen login failed: {done.stderr[-500:]}")
    with Client(Settings.from_env(env)) as client:
        session = client.session()
        assert session is not None
        have = len(client.generations.list(limit=IMAGES).items)
        maker = PromptMaker(random.Random(11))  # noqa: S311 (seeded data, not secrets)
        recent: list[str] = []
        if have < IMAGES:
            with bench.owner() as conn:
                conn.execute(
                    "select public.grant_credits(%s, %s)", (session.user_id, IMAGES - have)
                )
        for _ in range(IMAGES - have):
            client.create(maker.make(recent, heavy=True))
        # A profile signed in as the heavy user, to list a history of 100,000.
        heavy = Settings.from_env(env, profile="heavy")
        SessionStore(heavy.profile_dir / "session.json").save(
            Session(kind="local", user_id=bench.heavy_user, email=bench.load.heavy_email)
        )

    listed = run_gen(["list"], env, cwd=cwd)
    section.facts["list_ok"] = listed.returncode == 0 and listed.stdout.count("\n") >= 20
    heavy_listed = run_gen(["--profile", "heavy", "list"], env, cwd=cwd)
    section.facts["heavy_list_ok"] = heavy_listed.returncode == 0

    bench.say("cli: gen --help")
    helped = _timed_runs(["--help"], env, cwd, opts.cli_runs, opts.cli_warmup)
    section.add(
        Row("gen --help", helped, target=at_most(helped.median, 0.150, "≤ 150 ms"), headline=True)
    )
    bench.say("cli: gen list")
    listing = _timed_runs(["list"], env, cwd, opts.cli_runs, opts.cli_warmup)
    section.add(
        Row(
            f"gen list ({IMAGES} images, first page of 20)",
            listing,
            target=at_most(listing.median, 0.500, "≤ 500 ms"),
            headline=True,
        )
    )
    heavy_listing = _timed_runs(
        ["--profile", "heavy", "list"], env, cwd, opts.cli_runs, opts.cli_warmup
    )
    section.add(
        Row(f"gen list as the heavy user ({bench.load.size.heavy:,} images)", heavy_listing)
    )
    _startup_ratios(bench, section, env, cwd)
    section.facts["list_peak_rss_mb"] = listed.peak_rss_mb
    section.notes.append(
        f"Peak memory of one `gen list`: {listed.peak_rss_mb:.0f} MB."
        + (
            " The server is the embedded one, found through its postmaster.pid under"
            " GENVAULT_HOME as every command finds it."
            if bench.server.embedded_home
            else " The server is given by DATABASE_URL."
        )
    )
    return section


def _startup_ratios(bench: Bench, section: Section, env: dict[str, str], cwd: Path) -> None:
    """Each command's median wall time over that of ``python -c "import typer, psycopg,
    rich"``, the two run alternately so that both meet the same machine load."""
    opts = bench.options
    creates = sum(1 for _, args, _ in RATIOS if args[0] == "create") * (
        opts.cli_runs + opts.cli_warmup
    )
    with Client(Settings.from_env(env)) as client:
        session = client.session()
        assert session is not None
        with bench.owner() as conn:
            conn.execute("select public.grant_credits(%s, %s)", (session.user_id, creates))
    bare_command = [sys.executable, "-c", BARE_IMPORTS]
    for name, args, limit in RATIOS:
        bench.say(f"cli: {name} against the bare imports")
        bare: list[float] = []
        command: list[float] = []
        for run in range(opts.cli_warmup + opts.cli_runs):
            done = run_gen(args, env, cwd=cwd)
            if done.returncode != 0:
                raise RuntimeError(f"gen {' '.join(args)} failed: {done.stderr[-500:]}")
            yardstick = run_command(bare_command, env, cwd=cwd)
            if run >= opts.cli_warmup:
                command.append(done.seconds)
                bare.append(yardstick.seconds)
        figure, base = summarize(command), summarize(bare)
        ratio = figure.median / base.median
        section.add(
            Row(
                f"{name}: start-up as a multiple of `{BARE_IMPORTS}`",
                value=(
                    f"{ratio:.2f}x ({figure.median * 1000:.0f} ms against "
                    f"{base.median * 1000:.0f} ms, n={len(command)} each, alternating)"
                ),
                target=at_most(ratio, limit, f"≤ {limit}x"),
                headline=True,
            )
        )
