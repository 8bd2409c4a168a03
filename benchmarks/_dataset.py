"""The benchmark's data set: users, a history of generations, and how it is loaded.

Everything is drawn from one seeded random generator, so the same size and
seed give the same users, prompts and sizes (timestamps are spread over the
two years before the load). The defaults are the sizes the targets are set
for: 2,000,000 generations across 20,000 users, one of whom (the heavy user)
has 100,000.

Loading goes the way a bulk load should: users through ``auth.users`` (the
sign-up trigger gives each a credits row and its ledger entry, as on
Supabase); generations with COPY into ``user_generations`` in the order they
were made (so the table's physical order is time order, as in a real
history), and beside them, on a second connection, the ledger entries the
generation flow writes for each (a reservation and its spend) plus one grant
per user, so that every balance equals the sum of its ledger. Both go in with
triggers off (as pg_restore --disable-triggers loads), so the per-user
summaries are not updated row by row: genvault_rebuild_summaries() computes
them once afterwards. Beside the history comes what people organise it with:
about 2% of generations starred, tags on about 10% (a few tag names, some far
more used than others), a few collections per heavy user (the largest holds 1%
of their history, 1,000 images at the default size), a collection for some
other users, and a few rows in the trash. The secondary indexes are dropped
first and built again afterwards from their own definitions; then VACUUM
ANALYZE and a checkpoint. Each step is timed.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from benchmarks import _words as w

__all__ = [
    "LOADED_TABLES",
    "SECONDARY_INDEXES",
    "TAGS",
    "DataSize",
    "LoadReport",
    "PromptMaker",
    "load",
    "loaded_report",
]

Progress = Callable[[str], None]

_MODELS = [
    ("black-forest-labs/flux-schnell", 55),
    ("black-forest-labs/flux-dev", 20),
    ("stability-ai/sdxl", 12),
    ("genvault/offline", 8),
    ("upload", 5),
]
_ASPECTS = ["1:1"] * 6 + ["16:9", "9:16", "3:2", "2:3", "4:5"]
_COPY_CHUNK = 4000

# Organising: tag names and how often each is used (a few carry most tags).
TAGS = [
    ("portfolio", 30),
    ("wallpaper", 22),
    ("reference", 15),
    ("client", 12),
    ("draft", 10),
    ("print", 7),
    ("archive", 4),
]
TAGGED = 0.10
"""The share of generations with at least one tag."""
SECOND_TAG = 0.3
"""The share of tagged generations with a second tag."""
STARRED = 0.02
TRASHED = 0.002
HEAVY_COLLECTIONS = [("Best of", 0.01), ("Client work", 0.002), ("Moodboard", 0.0005)]
"""The heavy user's collections and the share of their history each holds."""
OTHERS_WITH_COLLECTION = 0.05
"""Other users with a collection ("Favourites", a tenth of their history)."""


@dataclass(frozen=True)
class DataSize:
    """How big a data set to build."""

    generations: int = 2_000_000
    users: int = 20_000
    heavy: int = 100_000
    seed: int = 20240601
    years: float = 2.0

    @classmethod
    def for_rows(cls, rows: int, *, seed: int = 20240601) -> DataSize:
        """A data set of ``rows`` generations in the default proportions
        (a user per 100 generations; the heavy user has 5% of them)."""
        if rows < 100:
            raise ValueError("the data set needs at least 100 generations")
        return cls(
            generations=rows, users=max(10, rows // 100), heavy=max(50, rows // 20), seed=seed
        )

    def label(self) -> str:
        return f"{self.generations}-{self.users}-{self.heavy}-{self.seed}"


@dataclass
class LoadReport:
    """What the load made and how long each step took (seconds)."""

    size: DataSize
    heavy_user: str
    heavy_email: str
    steps: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    prompt_lengths: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each table (with its indexes) and of each index of user_generations."""
    organised: dict[str, Any] = field(default_factory=dict)
    """The heavy user's starred, trashed and tagged rows, their collections' ids."""
    loaded_at: str = ""

    @property
    def total(self) -> float:
        return sum(self.steps.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadReport:
        raw = json.loads(text)
        raw["size"] = DataSize(**raw["size"])
        return cls(**raw)


# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------


class PromptMaker:
    """Realistic image prompts: 10 to 400 characters, from the word lists.

    Lengths follow a log-normal curve (median about 110 characters), as prompts
    people type do: many short ones, a long tail of detailed ones. Some prompts
    repeat: a few hundred popular ones are shared across users, and each user
    goes back to their own recent prompts now and then.
    """

    MIN, MAX = 10, 400

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.popular = [self._fresh(rare=False) for _ in range(400)]

    def _modifier(self) -> str:
        r = self._rng.random()
        if r < 0.25:
            return self._rng.choice(w.STYLES)
        if r < 0.45:
            return self._rng.choice(w.LIGHTING)
        if r < 0.65:
            return self._rng.choice(w.CAMERA)
        if r < 0.85:
            return self._rng.choice(w.QUALITY)
        if r < 0.93:
            return f"{self._rng.choice(w.COLOURS)} and {self._rng.choice(w.COLOURS)} palette"
        return self._rng.choice(w.MATERIALS)

    def _fresh(self, *, rare: bool) -> str:
        rng = self._rng
        target = min(self.MAX, max(self.MIN, int(rng.lognormvariate(math.log(110), 0.6))))
        subject = rng.choice(w.SUBJECTS)
        if target < 24:
            text = subject if rng.random() < 0.4 else f"{rng.choice(w.ADJECTIVES)} {subject}"
        else:
            adjective = rng.choice(w.ADJECTIVES)
            text = f"{'an' if adjective[0] in 'aeiou' else 'a'} {adjective} {subject}"
            if rng.random() < 0.5:
                text += f" {rng.choice(w.ACTIONS)}"
            if rng.random() < 0.7:
                text += f" {rng.choice(w.SETTINGS)}"
        if rare:
            text += f", with a {rng.choice(w.RARE_ANIMALS)}"
        while len(text) < target:
            text += f", {self._modifier()}"
        if len(text) > self.MAX:
            text = text[: self.MAX].rsplit(" ", 1)[0].rstrip(", ")
        if len(text) < self.MIN:
            text = f"{text}, {rng.choice(w.STYLES)}"
        return text

    def make(self, recent: list[str], *, heavy: bool) -> str:
        """One prompt for a user whose recent prompts are ``recent`` (updated here)."""
        rng = self._rng
        r = rng.random()
        if r < 0.04:
            return rng.choice(self.popular)
        if r < 0.16 and recent:
            return rng.choice(recent)
        # Other users mention one of a few animals now and then; the heavy user never.
        text = self._fresh(rare=not heavy and rng.random() < 0.03)
        if len(recent) < 8:
            recent.append(text)
        else:
            recent[rng.randrange(8)] = text
        return text


# ---------------------------------------------------------------------------
# Users and rows
# ---------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _per_user_counts(size: DataSize, rng: random.Random) -> list[int]:
    """Generations per user: the heavy user first, the rest skewed (log-normal)."""
    rest = size.generations - size.heavy
    others = size.users - 1
    weights = [rng.lognormvariate(0, 1.0) for _ in range(others)]
    scale = rest / sum(weights)
    counts = [int(x * scale) for x in weights]
    short = rest - sum(counts)
    for i in range(short):
        counts[i % others] += 1
    return [size.heavy, *counts]


@dataclass
class _Users:
    ids: list[str]
    emails: list[str]
    counts: list[int]


def _users(size: DataSize, rng: random.Random) -> _Users:
    ids = [_uuid(rng) for _ in range(size.users)]
    emails = ["heavy@bench.genvault.test"] + [
        f"user{n:05d}@bench.genvault.test" for n in range(1, size.users)
    ]
    return _Users(ids, emails, _per_user_counts(size, rng))


@dataclass
class _Organiser:
    """Stars, trash, tags and collections, drawn from a generator of their own so
    that the history itself is the same as without them."""

    rng: random.Random
    end: datetime
    users: _Users
    collections: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    """Per user index: (collection id, share of their rows in it)."""
    collection_lines: list[str] = field(default_factory=list)
    tag_lines: list[str] = field(default_factory=list)
    item_lines: list[str] = field(default_factory=list)
    heavy: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        stamp = (self.end - timedelta(days=800)).isoformat()
        names: dict[str, str] = {}
        for owner, n in enumerate(self.users.counts):
            if owner == 0:
                chosen = HEAVY_COLLECTIONS
            elif n >= 20 and self.rng.random() < OTHERS_WITH_COLLECTION:
                chosen = [("Favourites", 0.1)]
            else:
                continue
            for name, share in chosen:
                cid = _uuid(self.rng)
                self.collections.setdefault(owner, []).append((cid, share))
                self.collection_lines.append(
                    f"{cid}\t{self.users.ids[owner]}\t{name}\t{stamp}\t{stamp}\n"
                )
                if owner == 0:
                    names[cid] = name
        self.heavy = {
            "starred": 0,
            "trashed": 0,
            "tags": {},
            "collections": {cid: {"name": name, "images": 0} for cid, name in names.items()},
        }
        self._tags = [t for t, _ in TAGS]
        self._tag_weights = [n for _, n in TAGS]

    def row(self, owner: int, gid: str, created: datetime) -> tuple[bool, str]:
        """Whether the row is starred and its trashed_at (COPY text), recording its
        tags and collections."""
        rng = self.rng
        user = self.users.ids[owner]
        stamp = created.isoformat()
        starred = rng.random() < STARRED
        trashed = "\\N"
        if rng.random() < TRASHED:
            at = max(created, self.end - timedelta(seconds=rng.random() * 20 * 86400))
            trashed = at.isoformat()
        if rng.random() < TAGGED:
            tags = {rng.choices(self._tags, self._tag_weights)[0]}
            if rng.random() < SECOND_TAG:
                tags.add(rng.choices(self._tags, self._tag_weights)[0])
            for tag in sorted(tags):
                self.tag_lines.append(f"{gid}\t{tag}\t{user}\t{stamp}\n")
                if owner == 0:
                    self.heavy["tags"][tag] = self.heavy["tags"].get(tag, 0) + 1
        for cid, share in self.collections.get(owner, []):
            if rng.random() < share:
                self.item_lines.append(f"{cid}\t{gid}\t{user}\t{stamp}\t{stamp}\n")
                if owner == 0:
                    self.heavy["collections"][cid]["images"] += 1
        if owner == 0:
            self.heavy["starred"] += starred
            self.heavy["trashed"] += trashed != "\\N"
        return starred, trashed


def _generation_lines(
    size: DataSize,
    users: _Users,
    rng: random.Random,
    end: datetime,
    lengths: list[int],
    organiser: _Organiser,
) -> Iterator[tuple[str, str]]:
    """COPY text of every generation, oldest first, in chunks, each with the
    ledger entries the generation flow writes for them: a reservation (-1) and
    the spend (0) that settles it."""
    owners = [i for i, n in enumerate(users.counts) for _ in range(n)]
    rng.shuffle(owners)
    span = size.years * 365 * 86400
    offsets = sorted(rng.random() * span for _ in range(len(owners)))
    start = end - timedelta(seconds=span)
    prompts = PromptMaker(rng)
    recent: list[list[str]] = [[] for _ in users.ids]
    models = [m for m, _ in _MODELS]
    model_weights = [n for _, n in _MODELS]
    chunk: list[str] = []
    ledger: list[str] = []
    for owner, offset in zip(owners, offsets, strict=True):
        user = users.ids[owner]
        created = start + timedelta(seconds=offset)
        gid = _uuid(rng)
        prompt = prompts.make(recent[owner], heavy=owner == 0)
        lengths.append(len(prompt))
        sha = f"{rng.getrandbits(256):064x}"
        model = rng.choices(models, model_weights)[0]
        params = (
            f'{{"aspect_ratio": "{rng.choice(_ASPECTS)}", "seed": {rng.getrandbits(31)}}}'
            if model != "upload"
            else "{}"
        )
        stamp = created.isoformat()
        starred, trashed = organiser.row(owner, gid, created)
        chunk.append(
            f"{gid}\t{user}\t{prompt}\t{user}/{sha}.webp\t{stamp}\t{stamp}\t{model}\t"
            f"{params}\t{user}/{sha}.thumb.webp\t{int(rng.lognormvariate(12.0, 0.45))}\t{sha}\t"
            f"{'t' if starred else 'f'}\t{trashed}\n"
        )
        reserve = _uuid(rng)
        reserved_at = (created - timedelta(seconds=4)).isoformat()
        ledger.append(f"{reserve}\t{user}\t-1\treserve\t{gid}\t{gid}\t\\N\t{reserved_at}\n")
        ledger.append(f"{_uuid(rng)}\t{user}\t0\tspend\t{gid}\t\\N\t{reserve}\t{stamp}\n")
        if len(chunk) >= _COPY_CHUNK:
            yield "".join(chunk), "".join(ledger)
            chunk.clear()
            ledger.clear()
    if chunk:
        yield "".join(chunk), "".join(ledger)


def _grant_lines(users: _Users, rng: random.Random, before: datetime) -> str:
    """One operator grant per user that covers all of their generations, so that
    every balance stays equal to the sum of its ledger."""
    stamp = before.isoformat()
    return "".join(
        f"{_uuid(rng)}\t{uid}\t{n}\tgrant\t\\N\t\\N\t\\N\t{stamp}\n"
        for uid, n in zip(users.ids, users.counts, strict=True)
        if n
    )


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

# Indexes that are not behind a constraint, on the tables the load fills:
# dropped before the COPY and built again from their own definitions
# afterwards, as a bulk load should. (tests/test_benchmarks.py checks that
# this is every such index a fresh migration makes on these tables.)
SECONDARY_INDEXES = (
    "user_generations_user_created_idx",
    "user_generations_search_idx",
    "user_generations_image_url_idx",
    "user_generations_thumbnail_url_idx",
    "user_generations_starred_idx",
    "user_generations_trash_idx",
    "user_generations_trashed_at_idx",
    "credit_ledger_user_created_idx",
    "credit_ledger_open_reservations_idx",
    "generation_tags_page_idx",
    "collection_items_page_idx",
    "collection_items_generation_idx",
    "user_prompt_counts_top_idx",
)
LOADED_TABLES = (
    "public.user_generations",
    "public.credit_ledger",
    "public.generation_tags",
    "public.collection_items",
    "public.user_prompt_counts",
)
"""The tables whose secondary indexes the load drops and builds again."""
SIZED = (
    "public.user_generations",
    "public.credit_ledger",
    "public.generation_tags",
    "public.collections",
    "public.collection_items",
    "public.user_generation_totals",
    "public.user_generation_days",
    "public.user_prompt_counts",
)
"""The tables whose size (with their indexes) the load report gives."""

_META = """
create schema if not exists bench;
create table if not exists bench.load (id boolean primary key default true, report jsonb not null);
"""

_GENERATIONS_COPY = (
    "copy public.user_generations (id, user_id, prompt, image_url, created_at,"
    " updated_at, model, params, thumbnail_url, image_bytes, image_sha256, starred,"
    " trashed_at) from stdin"
)
_LEDGER_COPY = (
    "copy public.credit_ledger (id, user_id, delta, reason, generation_id,"
    " idempotency_key, settles, created_at) from stdin"
)
_COLLECTIONS_COPY = "copy public.collections (id, user_id, name, created_at, updated_at) from stdin"
_ITEMS_COPY = (
    "copy public.collection_items (collection_id, generation_id, user_id,"
    " generation_created_at, added_at) from stdin"
)
_TAGS_COPY = (
    "copy public.generation_tags (generation_id, tag, user_id, generation_created_at) from stdin"
)


class _Step:
    def __init__(self, report: LoadReport, name: str, progress: Progress) -> None:
        self.report, self.name, self.progress = report, name, progress

    def __enter__(self) -> None:
        self.progress(f"load: {self.name}")
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report.steps[self.name] = time.perf_counter() - self.started


def _copy(conn: psycopg.Connection[Any], statement: str, lines: list[str]) -> None:
    with conn.cursor().copy(statement.encode()) as copy:
        for start in range(0, len(lines), _COPY_CHUNK):
            copy.write("".join(lines[start : start + _COPY_CHUNK]))


def load(url: str, size: DataSize, *, progress: Progress = print) -> LoadReport:
    """Fill the migrated, empty genvault database at ``url`` with the data set."""
    rng = random.Random(size.seed)  # noqa: S311 (seeded data, not secrets)
    users = _users(size, rng)
    report = LoadReport(size, heavy_user=users.ids[0], heavy_email=users.emails[0])
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    organiser = _Organiser(random.Random(size.seed + 1), end, users)  # noqa: S311
    lengths: list[int] = []
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as ledger_conn,
    ):
        conn.execute(_META)
        conn.execute("set maintenance_work_mem = '1GB'")
        with (
            _Step(
                report, "users: COPY into auth.users (the sign-up trigger adds credits)", progress
            ),
            conn.cursor().copy("copy auth.users (id, email) from stdin") as copy,
        ):
            for uid, email in zip(users.ids, users.emails, strict=True):
                copy.write_row((uid, email))
        indexes = conn.execute(
            "select i.indexname, i.indexdef, obj_description(c.oid, 'pg_class')"
            "  from pg_indexes i join pg_class c on c.relname = i.indexname"
            " where i.schemaname = 'public' and i.indexname = any(%s)",
            (list(SECONDARY_INDEXES),),
        ).fetchall()
        for name, _, _ in indexes:
            conn.execute(f"drop index public.{name}")
        # The rows are consistent by construction (a spend settles its reservation,
        # a tag's generation is its user's), so neither foreign keys nor triggers
        # run row by row during the load, as with pg_restore --disable-triggers:
        # the per-user summaries are computed once afterwards instead.
        for c in (conn, ledger_conn):
            c.execute("set session_replication_role = replica")
        with (
            _Step(report, "generations and their ledger: generated, sent with COPY", progress),
            conn.cursor().copy(_GENERATIONS_COPY) as generations,
            ledger_conn.cursor().copy(_LEDGER_COPY) as ledger,
        ):
            ledger.write(_grant_lines(users, rng, end - timedelta(days=size.years * 365 + 1)))
            for rows, entries in _generation_lines(size, users, rng, end, lengths, organiser):
                generations.write(rows)
                ledger.write(entries)
        with _Step(report, "collections, their items and tags: COPY", progress):
            _copy(conn, _COLLECTIONS_COPY, organiser.collection_lines)
            _copy(conn, _ITEMS_COPY, organiser.item_lines)
            _copy(conn, _TAGS_COPY, organiser.tag_lines)
        for c in (conn, ledger_conn):
            c.execute("set session_replication_role = origin")
        summary_index = [i for i in indexes if i[0] == "user_prompt_counts_top_idx"]
        for name, definition, comment in [i for i in indexes if i not in summary_index]:
            with _Step(report, f"index {name}", progress):
                conn.execute(definition)
                if comment:
                    conn.execute(f"comment on index public.{name} is {sql.quote(comment)}")
        with _Step(report, "summaries: genvault_rebuild_summaries()", progress):
            conn.execute("select public.genvault_rebuild_summaries()")
        for name, definition, comment in summary_index:
            with _Step(report, f"index {name}", progress):
                conn.execute(definition)
                if comment:
                    conn.execute(f"comment on index public.{name} is {sql.quote(comment)}")
        with _Step(report, "vacuum analyze", progress):
            for table in (*SIZED, "public.user_credits", "auth.users"):
                conn.execute(f"vacuum (analyze) {table}")
        with _Step(report, "checkpoint", progress):
            conn.execute("checkpoint")
        report.counts = _counts(conn)
        report.sizes = _sizes(conn)
        report.organised = organiser.heavy
        lengths.sort()
        report.prompt_lengths = {
            "min": lengths[0],
            "p10": lengths[len(lengths) // 10],
            "median": lengths[len(lengths) // 2],
            "p90": lengths[len(lengths) * 9 // 10],
            "max": lengths[-1],
        }
        report.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        conn.execute(
            "insert into bench.load (report) values (%s)"
            " on conflict (id) do update set report = excluded.report",
            (report.to_json(),),
        )
    return report


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    row = conn.execute(
        "select (select count(*) from auth.users),"
        " (select count(*) from public.user_generations),"
        " (select count(*) from public.credit_ledger),"
        " (select count(*) from public.user_generations where starred),"
        " (select count(*) from public.user_generations where trashed_at is not null),"
        " (select count(*) from public.generation_tags),"
        " (select count(distinct generation_id) from public.generation_tags),"
        " (select count(*) from public.collections),"
        " (select count(*) from public.collection_items),"
        " (select count(*) from public.user_prompt_counts),"
        " pg_relation_size('public.user_generations'),"
        " pg_total_relation_size('public.user_generations')"
    ).fetchone()
    assert row is not None
    keys = (
        "users",
        "generations",
        "ledger_rows",
        "starred",
        "trashed",
        "tags",
        "tagged_generations",
        "collections",
        "collection_items",
        "prompt_counts",
        "table_bytes",
        "total_bytes",
    )
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each table with its indexes, then each index of user_generations alone."""
    sizes: dict[str, int] = {}
    for table in SIZED:
        row = conn.execute("select pg_total_relation_size(%s::regclass)", (table,)).fetchone()
        assert row is not None
        sizes[table.removeprefix("public.")] = int(row[0])
    for name, bytes_ in conn.execute(
        "select indexrelid::regclass::text, pg_relation_size(indexrelid)"
        "  from pg_index where indrelid = 'public.user_generations'::regclass"
        " order by 2 desc"
    ).fetchall():
        sizes[str(name).removeprefix("public.")] = int(bytes_)
    return sizes


def loaded_report(url: str) -> LoadReport | None:
    """The report of an earlier load into this database, if there was one."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select report::text from bench.load").fetchone()
    except psycopg.Error:
        return None
    return LoadReport.from_json(row[0]) if row else None
