"""4. Creating: one create end to end, its round trips, and many at once.

The image model costs nothing here (it hands back the same small PNG at once),
so what is measured is genvault's own work: reserve a credit, convert the image
to WebP with its metadata, make the thumbnail, store both files durably, and
record the generation with its spend. Storage is the local store.
"""

from __future__ import annotations

import cProfile
import io
import multiprocessing
import pstats
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from PIL import Image

from benchmarks._context import JWT_SECRET, Bench
from benchmarks._dataset import PromptMaker
from benchmarks._results import Row, Section, Target, at_most
from benchmarks._stats import measure, summarize
from benchmarks._wire import RoundTripCounter
from genvault._imagegen import ImageRequest, ImageResult, StatusCallback

__all__ = ["ZeroCostModel", "run"]


def _png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


class ZeroCostModel:
    """An image model that answers at once with the same 64x64 PNG."""

    name = "bench/zero-cost"
    offline = True

    def __init__(self) -> None:
        self._data = _png()

    def generate(
        self, request: ImageRequest, *, on_status: StatusCallback | None = None
    ) -> ImageResult:
        return ImageResult(self._data, "image/png", self.name, seed=request.seed)


def _prompts(seed: int, n: int) -> list[str]:
    maker = PromptMaker(random.Random(seed))  # noqa: S311 (seeded data, not secrets)
    recent: list[str] = []
    return [maker.make(recent, heavy=True) for _ in range(n)]


def _proxied(url: str, port: int) -> str:
    """The same database through the round-trip counter on 127.0.0.1:port."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
    query = urlencode({"sslmode": "disable", "gssencmode": "disable"})
    return urlunsplit(("postgresql", f"{auth}127.0.0.1:{port}", parts.path, query, ""))


# ---------------------------------------------------------------------------
# Concurrent workers (separate processes, as separate app workers would be)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    url: str
    home: str
    user_id: str
    seconds: float
    seed: int


def _worker(job: _Job, barrier: Any, results: Any) -> None:
    from genvault import Client, GenvaultError, Settings
    from genvault._tokens import mint_token

    settings = Settings(home=Path(job.home), database_url=job.url, jwt_secret=JWT_SECRET)
    token = mint_token(JWT_SECRET, sub=job.user_id, ttl=3600)
    model = ZeroCostModel()
    prompts = _prompts(job.seed, 4000)
    made = 0
    errors: list[str] = []
    latencies: list[float] = []
    with Client(settings, access_token=token) as client:
        for i in range(3):
            client.create(prompts[i], model=model)
        barrier.wait()
        started = time.perf_counter()
        deadline = started + job.seconds
        i = 3
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                client.create(prompts[i % len(prompts)], model=model)
                made += 1
                latencies.append(time.perf_counter() - t0)
            except GenvaultError as exc:
                errors.append(f"{type(exc).__name__}: {exc.message}")
            i += 1
        ended = time.perf_counter()
    results.put((made, errors, latencies, started, ended))


def _concurrent(bench: Bench, users: list[str], workers: int, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    jobs = [
        _Job(bench.url, str(bench.library_home), users[i % len(users)], seconds, 1000 + i)
        for i in range(workers)
    ]
    processes = [ctx.Process(target=_worker, args=(job, barrier, results)) for job in jobs]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=seconds + 300) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    made = sum(o[0] for o in outcomes)
    errors = [e for o in outcomes for e in o[1]]
    latencies = [x for o in outcomes for x in o[2]]
    window = max(o[4] for o in outcomes) - min(o[3] for o in outcomes)
    return {
        "made": made,
        "errors": errors,
        "rate": made / window if window > 0 else 0.0,
        "latency": summarize(latencies) if latencies else None,
        "window": window,
    }


_BOOKS = """
select
  (select count(*) from public.user_credits c
     left join (select l.user_id, sum(l.delta) as total from public.credit_ledger l
                 group by l.user_id) s using (user_id)
    where c.credits is distinct from coalesce(s.total, 0)) as unbalanced_users,
  (select count(*) from public.user_credits) as users,
  (select count(*) from public.credit_ledger r
    where r.user_id = any(%(users)s) and r.reason = 'reserve'
      and not exists (select from public.credit_ledger s where s.settles = r.id)) as open,
  (select count(*) from public.credit_ledger l
    where l.user_id = any(%(users)s) and l.reason = 'spend') as spends,
  (select count(*) from public.user_generations g where g.user_id = any(%(users)s)) as rows
"""


def _books(bench: Bench, users: list[str]) -> dict[str, int]:
    with bench.owner() as conn:
        row = conn.execute(_BOOKS, {"users": users}).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def _profile(bench: Bench, user: str, model: ZeroCostModel, prompts: list[str]) -> list[str]:
    """Where a create's time goes, from cProfile over a run of creates."""
    wanted = {
        ("_images.py", "to_webp"): "convert to WebP with metadata",
        ("_images.py", "thumbnail_webp"): "make the thumbnail",
        ("_storage.py", "put"): "store two files (write, fsync, rename)",
        ("_storage.py", "exists"): "check both files are still there",
        ("_transport.py", "rpc"): "database calls (reserve_credit, record_generation)",
    }
    with bench.client(user) as client:
        client.create(prompts[0], model=model)
        profiler = cProfile.Profile()
        profiler.enable()
        for prompt in prompts:
            client.create(prompt, model=model)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = 0.0
    found: dict[str, float] = {}
    for (filename, _, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        cumulative = entry[3]
        if name == "create" and filename.endswith("_client.py"):
            total = cumulative
        for (suffix, fn), label in wanted.items():
            if name == fn and filename.endswith(suffix):
                found[label] = found.get(label, 0.0) + cumulative
    lines = []
    for label, spent in sorted(found.items(), key=lambda kv: -kv[1]):
        share = spent / total if total else 0.0
        lines.append(f"{label}: {share:.0%} of a create's time")
    return lines


def run(bench: Bench) -> Section:
    section = Section("create", "4. Creating")
    opts = bench.options
    model = ZeroCostModel()
    runs = opts.iterations + opts.warmup
    trip_runs = max(5, min(50, opts.iterations))
    user = bench.new_user("creator", credits=runs + trip_runs + 200)
    prompts = _prompts(7, runs + trip_runs + 200)

    bench.say("create: one at a time")
    with bench.client(user) as client:
        queue = iter(prompts)
        figure = measure(
            lambda: client.create(next(queue), model=model),
            iterations=opts.iterations,
            warmup=opts.warmup,
        )
    section.add(
        Row(
            "One create, end to end (zero-cost model, local storage)",
            figure,
            target=at_most(figure.median, 0.015, "≤ 15 ms"),
            headline=True,
        )
    )

    bench.say("create: round trips")
    with RoundTripCounter(bench.server.socket_address()) as counter:
        proxied = _proxied(bench.url, counter.port)
        with bench.client(user, database_url=proxied) as client:
            for prompt in prompts[runs : runs + 3]:
                client.create(prompt, model=model)
            page = client.generations.list(limit=50)
            time.sleep(0.05)
            counter.reset()
            for prompt in prompts[runs + 3 : runs + 3 + trip_runs]:
                client.create(prompt, model=model)
            time.sleep(0.05)
            trips, messages = counter.snapshot()
            counter.reset()
            client.generations.list(limit=50, before=page.next_cursor)
            time.sleep(0.05)
            list_trips, _ = counter.snapshot()
    per_create = trips / trip_runs
    section.facts["round_trips_per_create"] = per_create
    section.facts["round_trips_per_list"] = list_trips
    section.add(
        Row(
            "Database round trips per create",
            value=f"{per_create:.2f} (over {trip_runs} creates; {list_trips} per history page)",
            target=Target("≤ 3", per_create <= 3),
            headline=True,
            note=(
                "messages sent per create: "
                + ", ".join(f"{k} {v / trip_runs:.1f}" for k, v in sorted(messages.items()))
            ),
        )
    )

    bench.say("create: profile")
    section.notes.extend(_profile(bench, user, model, prompts[-100:][: max(10, trip_runs)]))

    for label, n_users in (("one user per worker", opts.workers), ("all on one user", 1)):
        bench.say(f"create: {opts.workers} workers, {label}")
        seconds = opts.concurrency_seconds
        # Enough credits that no worker runs out: up to 1,000 creates a second each,
        # ten times the rate a worker reaches on a fast machine.
        credits = int(1000 * seconds * opts.workers / n_users) + 100
        users = [bench.new_user("worker", credits=credits) for _ in range(n_users)]
        before = _books(bench, users)
        outcome = _concurrent(bench, users, opts.workers, seconds)
        after = _books(bench, users)
        balanced = after["unbalanced_users"] == 0 and after["open"] == 0
        consistent = after["spends"] - before["spends"] == after["rows"] - before["rows"]
        key = "workers_own_users" if n_users > 1 else "workers_one_user"
        section.facts[key] = {**after, "made": outcome["made"], "errors": outcome["errors"]}
        latency = outcome["latency"]
        section.add(
            Row(
                f"{opts.workers} workers, {label}: creates per second",
                value=f"{outcome['rate']:.0f}/s ({outcome['made']:,} in {outcome['window']:.1f} s)",
                target=Target("≥ 200/s", outcome["rate"] >= 200) if n_users > 1 else None,
                headline=n_users > 1,
                note=(
                    (
                        f"latency per create {latency.median * 1000:.0f} ms median,"
                        f" {latency.p90 * 1000:.0f} ms p90; "
                        if latency
                        else ""
                    )
                    + f"errors {len(outcome['errors'])}"
                ),
            )
        )
        section.add(
            Row(
                f"{opts.workers} workers, {label}: ledger afterwards",
                value=(
                    f"sum(delta) = credits for {after['users'] - after['unbalanced_users']:,}"
                    f" of {after['users']:,} users; {after['open']} reservations open"
                ),
                target=Target("balanced", balanced and consistent),
                headline=n_users > 1,
            )
        )
    return section
