"""What history_at_scale.sql derives from the history: the per-user summaries and search.

The summaries (user_generation_totals, user_generation_days, user_prompt_counts)
are kept by triggers; here random sequences of everything that changes a
history (hypothesis) are run, and after each step the summaries must equal a
recomputation, in Python, from user_generations and credit_ledger. The
operators' rebuild must give the same tables, and my_stats() the figures
computed in Python. Search must find exactly what a plain ILIKE finds.

The tests use a database of their own, so that the summaries can be compared
whole; each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from psycopg.rows import dict_row

from genvault._migrate import migrate
from tests.support.database import acting_as, scratch_database
from tests.support.reliability import fuzz_settings
from tests.support.users import User, create_user, user_claims

Conn = psycopg.Connection[dict[str, Any]]
SUMMARIES = ("user_generation_totals", "user_generation_days", "user_prompt_counts")


@pytest.fixture(scope="module")
def vault_url(server_url: str) -> Iterator[str]:
    """A freshly migrated database for this module alone."""
    with scratch_database(server_url, "genvault_summaries") as url:
        migrate(url)
        yield url


@pytest.fixture
def conn(vault_url: str) -> Iterator[Conn]:
    """A connection as the database owner (an operator; bypasses RLS), autocommit."""
    with psycopg.connect(vault_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@contextmanager
def rolled_back(conn: Conn) -> Iterator[Conn]:
    """One transaction on ``conn`` that is always rolled back."""
    with conn.transaction():
        yield conn
        raise psycopg.Rollback


@contextmanager
def acting(conn: Conn, role: str, claims: dict[str, Any] | None = None) -> Iterator[Conn]:
    """One request as ``role``; afterwards the enclosing transaction is the operator's again.

    (A role set inside a savepoint outlives its release, up to the end of the outer
    transaction, so it is put back explicitly.)
    """
    with acting_as(conn, role, claims):
        yield conn
    conn.execute("set local role none; set local request.jwt.claims = ''")


def as_user(conn: Conn, user: User) -> Any:
    return acting(conn, "authenticated", user_claims(user))


# ---------------------------------------------------------------------------
# Recomputing the summaries in Python
# ---------------------------------------------------------------------------


def fold(prompt: str) -> str:
    """A prompt as it is counted: trimmed of spaces, lower-cased (ASCII prompts here)."""
    return prompt.strip(" ").lower()


def prompt_key(folded: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(folded.encode(), usedforsecurity=False).hexdigest())


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


Summaries = tuple[
    dict[str, tuple[int, int, int]], dict[tuple[str, date], int], dict[tuple[str, str], int]
]


def recomputed(conn: Conn) -> Summaries:
    """The summaries as they should be, from the rows in the history and the ledger.

    A totals row of zeros and no totals row mean the same (my_stats reads both as 0).
    """
    totals: dict[str, list[int]] = {}
    days: Counter[tuple[str, date]] = Counter()
    prompts: Counter[tuple[str, str]] = Counter()
    for g in conn.execute(
        "select user_id, prompt, created_at, image_bytes from public.user_generations"
        " where trashed_at is null"
    ):
        total = totals.setdefault(g["user_id"], [0, 0, 0])
        total[0] += 1
        total[1] += g["image_bytes"] or 0
        days[(g["user_id"], utc_day(g["created_at"]))] += 1
        prompts[(g["user_id"], fold(g["prompt"]))] += 1
    for s in conn.execute(
        "select user_id, count(*) as n from public.credit_ledger where reason = 'spend'"
        " group by user_id"
    ):
        totals.setdefault(s["user_id"], [0, 0, 0])[2] = s["n"]
    return (
        {u: (t[0], t[1], t[2]) for u, t in totals.items() if any(t)},
        dict(days),
        dict(prompts),
    )


def stored(conn: Conn) -> Summaries:
    """The summaries as the triggers keep them; each prompt's key is checked on the way."""
    totals = {
        r["user_id"]: (r["images"], r["bytes"], r["credits_spent"])
        for r in conn.execute("select * from public.user_generation_totals")
    }
    days = {
        (r["user_id"], r["day"]): r["images"]
        for r in conn.execute("select * from public.user_generation_days")
    }
    prompts = {}
    for r in conn.execute("select * from public.user_prompt_counts"):
        assert r["prompt_key"] == prompt_key(r["prompt"]), r
        prompts[(r["user_id"], r["prompt"])] = r["uses"]
    return ({u: t for u, t in totals.items() if any(t)}, days, prompts)


def collation_rank(conn: Conn, texts: list[str]) -> dict[str, int]:
    """Each text's place in the database's own alphabetical order (as my_stats sorts)."""
    row = conn.execute(
        "select coalesce(array_agg(p order by left(p, 200), p), '{}') as ordered"
        " from unnest(%s::text[]) as p",
        (texts,),
    ).fetchone()
    assert row is not None
    return {p: i for i, p in enumerate(row["ordered"])}


def expected_stats(conn: Conn, user: User, days: int, top: int) -> dict[str, Any]:
    """my_stats(days, top) of ``user``, computed from their rows in Python."""
    rows = conn.execute(
        "select prompt, created_at, image_bytes from public.user_generations"
        " where user_id = %s and trashed_at is null",
        (user.id,),
    ).fetchall()
    now_row = conn.execute("select now() as now").fetchone()
    credits_row = conn.execute(
        "select credits from public.user_credits where user_id = %s", (user.id,)
    ).fetchone()
    spent_row = conn.execute(
        "select count(*) as n from public.credit_ledger where user_id = %s and reason = 'spend'",
        (user.id,),
    ).fetchone()
    assert now_row is not None
    assert spent_row is not None
    since = utc_day(now_row["now"]) - timedelta(days=days - 1)
    per_day = Counter(d for r in rows if (d := utc_day(r["created_at"])) >= since)
    per_week: Counter[date] = Counter()
    for d, n in per_day.items():
        per_week[d - timedelta(days=d.weekday())] += n
    uses = Counter(fold(r["prompt"]) for r in rows)
    rank = collation_rank(conn, list(uses))
    ranked = sorted(uses.items(), key=lambda item: (-item[1], rank[item[0]]))
    created = [r["created_at"] for r in rows]
    return {
        "total": len(rows),
        "bytes": sum(r["image_bytes"] or 0 for r in rows),
        "first_at": min(created) if created else None,
        "last_at": max(created) if created else None,
        "credits": credits_row["credits"] if credits_row else None,
        "credits_spent": spent_row["n"],
        "per_day": [{"day": d.isoformat(), "images": n} for d, n in sorted(per_day.items())],
        "per_week": [{"week": w.isoformat(), "images": n} for w, n in sorted(per_week.items())],
        "top_prompts": [{"prompt": p, "uses": n} for p, n in ranked[:top]],
    }


def my_stats(conn: Conn, user: User, days: int, top: int) -> dict[str, Any]:
    with as_user(conn, user):
        row = conn.execute(
            "select public.my_stats(days => %s, top => %s) as stats", (days, top)
        ).fetchone()
    assert row is not None
    stats = dict(row["stats"])
    for key in ("first_at", "last_at"):
        if stats[key] is not None:
            stats[key] = datetime.fromisoformat(stats[key])
    return stats


# ---------------------------------------------------------------------------
# The steps a history goes through
# ---------------------------------------------------------------------------

PROMPTS = [
    "a red fox",
    "A Red Fox",
    "  a red fox  ",
    "blue whale",
    "Blue Whale ",
    "zebra",
    "ZEBRA",
    "café au lait",
    "straße",
    "x" * 200 + "b",
    "x" * 200 + "a",
    "X" * 200 + "A",
]
prompts = st.one_of(
    st.sampled_from(PROMPTS),
    st.text(alphabet="abAB ", min_size=1, max_size=5).filter(lambda p: p.strip(" ") != ""),
)
image_bytes = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
# Minutes before now: up to 60 days ago, or a few hours ahead (a fast clock).
ages = st.integers(min_value=-180, max_value=60 * 24 * 60)
who = st.integers(min_value=0, max_value=2)
picks = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=4)

steps = st.one_of(
    st.tuples(st.just("create"), who, prompts, image_bytes),
    st.tuples(
        st.just("insert"),
        who,
        st.lists(st.tuples(prompts, ages, image_bytes), min_size=1, max_size=4),
    ),
    st.tuples(st.just("delete"), who, picks),
    # No step changes a prompt, a date or a size: provenance is frozen once recorded.
    st.tuples(st.just("trash"), who, picks),
    st.tuples(st.just("restore"), who, picks),
    st.tuples(st.just("purge"), st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("delete account"), who),
)


class History:
    """Three users and the steps that change their history, run in one transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.users = [create_user(conn, credits=200) for _ in range(3)]
        self.gone: set[int] = set()

    def ids(self, which: list[int]) -> list[str]:
        """Generation ids picked by position among all rows (any user's), oldest first."""
        every = [
            str(r["id"])
            for r in self.conn.execute(
                "select id from public.user_generations order by created_at, id"
            )
        ]
        return [every[i % len(every)] for i in which] if every else []

    def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "purge":
            self.conn.execute(
                "select count(*) from public.admin_purge_older_than(%s * interval '1 day', false)",
                (step[1],),
            )
            return
        if step[1] in self.gone:
            return
        user = self.users[step[1]]
        if kind == "create":
            self.create(user, step[2], step[3])
        elif kind == "insert":
            self.conn.execute(
                "insert into public.user_generations (user_id, prompt, image_url, created_at,"
                " image_bytes)"
                " select %s, r.prompt, %s || '/' || gen_random_uuid() || '.webp',"
                "        now() - r.age * interval '1 minute', r.bytes"
                "   from unnest(%s::text[], %s::int[], %s::bigint[]) as r (prompt, age, bytes)",
                (
                    user.id,
                    user.id,
                    [p for p, _, _ in step[2]],
                    [a for _, a, _ in step[2]],
                    [b for _, _, b in step[2]],
                ),
            )
        elif kind == "delete":
            with as_user(self.conn, user):
                self.conn.execute(
                    "select count(*) from public.delete_generations(%s::uuid[])",
                    (self.ids(step[2]),),
                )
        elif kind in ("trash", "restore"):
            with as_user(self.conn, user):
                self.conn.execute(
                    f"select count(*) from public.{kind}_generations(%s::uuid[])",
                    (self.ids(step[2]),),
                )
        elif kind == "delete account":
            with as_user(self.conn, user):
                self.conn.execute("select * from public.delete_my_account()")
            self.gone.add(step[1])
        else:  # pragma: no cover - the strategy draws only the kinds above
            raise AssertionError(kind)

    def create(self, user: User, prompt: str, size: int | None) -> None:
        """A generation as the library makes one: reserve a credit, then record it."""
        with as_user(self.conn, user):
            reserved = self.conn.execute(
                "select reservation_id, reserved_for from public.reserve_credit(%s)",
                (f"key-{uuid.uuid4()}",),
            ).fetchone()
            assert reserved is not None
            self.conn.execute(
                "select id from public.record_generation(%s, %s, %s, 'test/model',"
                " image_bytes => %s)",
                (
                    reserved["reservation_id"],
                    prompt,
                    f"{user.id}/{reserved['reserved_for']}.webp",
                    size,
                ),
            )


def test_summaries_always_equal_a_recomputation(conn: Conn) -> None:
    """After every step of random histories (creates through reserve_credit and
    record_generation, an operator's direct inserts of several rows, deletes, trash
    and restore, the retention purge, account deletion) the three summaries equal a recomputation
    from user_generations and credit_ledger; genvault_rebuild_summaries then gives the
    same tables, and each user's my_stats() the figures computed in Python."""

    @fuzz_settings()
    @given(
        history=st.lists(steps, min_size=1, max_size=20),
        days=st.integers(min_value=1, max_value=70),
        top=st.integers(min_value=1, max_value=6),
    )
    @example(
        history=[
            ("create", 0, "a red fox", None),
            ("create", 0, "A Red Fox", 10),
            ("delete account", 0),
        ],
        days=30,
        top=5,
    )
    @example(
        history=[
            ("insert", 1, [("zebra", 60, 5), ("ZEBRA ", 3000, None), ("blue whale", -60, 7)]),
            ("trash", 1, [0, 1]),
            ("restore", 1, [0]),
            ("purge", 30),
        ],
        days=7,
        top=2,
    )
    def summaries_follow_the_history(history: list[tuple[Any, ...]], days: int, top: int) -> None:
        with rolled_back(conn):
            world = History(conn)
            assert stored(conn) == recomputed(conn)
            for n, step in enumerate(history):
                world.run(step)
                assert stored(conn) == recomputed(conn), f"after step {n}: {step!r}"
            kept = stored(conn)
            for k, user in enumerate(world.users):
                if k not in world.gone:
                    assert my_stats(conn, user, days, top) == expected_stats(conn, user, days, top)
            counted = conn.execute("select public.genvault_rebuild_summaries() as n").fetchone()
            assert counted == {"n": sum(t[0] for t in kept[0].values())}
            assert stored(conn) == kept

    summaries_follow_the_history()


def test_my_stats_top_prompts_break_ties_alphabetically(conn: Conn) -> None:
    """Prompts used equally often are listed in alphabetical order, also when they share
    their first 200 characters; case and surrounding spaces do not make a new prompt;
    trashed rows count for nothing and move first_at and last_at."""
    with rolled_back(conn):
        user = create_user(conn, credits=0)
        rows: list[tuple[str, int]] = [
            ("b cat", 60),
            ("  B Cat ", 50),
            ("a dog", 40),
            ("A DOG", 30),
            ("y" * 200 + "b", 20),
            ("y" * 200 + "a", 10),
            ("zebra", 5),
            ("an owl", 24 * 60 * 40),  # outside the last 30 days
        ]
        conn.execute(
            "insert into public.user_generations (user_id, prompt, image_url, created_at)"
            " select %s, r.prompt, %s || '/' || r.n || '.webp', now() - r.age * interval '1 minute'"
            "   from unnest(%s::text[], %s::int[]) with ordinality as r (prompt, age, n)",
            (user.id, user.id, [p for p, _ in rows], [a for _, a in rows]),
        )
        newest = conn.execute(
            "select id, created_at from public.user_generations where user_id = %s"
            " order by created_at desc limit 1",
            (user.id,),
        ).fetchone()
        assert newest is not None
        with as_user(conn, user):
            conn.execute("select public.trash_generations(array[%s]::uuid[])", (newest["id"],))
        stats = my_stats(conn, user, 30, 5)
        assert stats == expected_stats(conn, user, 30, 5)
        assert stats["total"] == len(rows) - 1
        assert [p["uses"] for p in stats["top_prompts"]] == [2, 2, 1, 1, 1]
        assert stats["last_at"] != newest["created_at"]
        assert stats["per_day"][-1]["images"] >= 1
        assert sum(d["images"] for d in stats["per_day"]) == len(rows) - 2


def test_users_read_only_their_own_summary_rows(conn: Conn) -> None:
    """Each user sees their own totals, days and prompt counts and no one else's; anon
    sees nothing; nobody but the triggers writes them, and the rebuild is for operators."""
    with rolled_back(conn):
        history = History(conn)
        alice, bob, _ = history.users
        for user, prompt in ((alice, "a red fox"), (alice, "blue whale"), (bob, "zebra")):
            history.create(user, prompt, 1000)
        for user in (alice, bob):
            for table in SUMMARIES:
                everything = conn.execute(f"select * from public.{table}").fetchall()
                with as_user(conn, user):
                    seen = conn.execute(f"select * from public.{table}").fetchall()
                assert seen, table
                assert sorted(map(str, seen)) == sorted(
                    str(r) for r in everything if r["user_id"] == user.id
                )
        for table in SUMMARIES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), acting(conn, "anon"):
                conn.execute(f"select * from public.{table}")
            for statement in (
                f"insert into public.{table} (user_id) values (%(me)s)",
                f"update public.{table} set user_id = user_id where user_id = %(me)s",
                f"delete from public.{table} where user_id = %(other)s",
                f"truncate public.{table}",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, alice):
                    conn.execute(statement, {"me": alice.id, "other": bob.id})
        with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, alice):
            conn.execute("select public.genvault_rebuild_summaries()")
        after = stored(conn)
        assert after == recomputed(conn)
        assert after[0][alice.id] == (2, 2000, 2)
        assert after[0][bob.id] == (1, 1000, 1)


# ---------------------------------------------------------------------------
# Search finds what ILIKE finds
# ---------------------------------------------------------------------------

# Letters with and without case, ß and ẞ, CJK, digits, hyphens and punctuation, and
# the three characters LIKE treats specially.
SEARCH_ALPHABET = "abcAB éÉßẞ日本-_%\\.,!'09"
search_prompts = st.text(alphabet=SEARCH_ALPHABET, min_size=1, max_size=24).filter(
    lambda p: p.strip(" ") != ""
)


def ilike_literal(term: str) -> str:
    """``%term%`` for ILIKE, with %, _ and the escape character itself matched literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@st.composite
def search_cases(draw: st.DrawFn) -> tuple[list[str], list[bool], str]:
    """Prompts, which of them are in the trash, and a term: random text, or a slice of
    one prompt (often the middle of a word) in any case."""
    texts = draw(st.lists(search_prompts, min_size=1, max_size=12))
    trashed = draw(st.lists(st.booleans(), min_size=len(texts), max_size=len(texts)))
    source = draw(st.sampled_from(texts))
    start = draw(st.integers(min_value=0, max_value=len(source) - 1))
    end = draw(st.integers(min_value=start + 1, max_value=len(source)))
    sliced = source[start:end]
    term = draw(
        st.one_of(
            st.text(alphabet=SEARCH_ALPHABET, min_size=1, max_size=6),
            st.sampled_from([sliced, sliced.upper(), sliced.lower(), sliced.swapcase()]),
        ).filter(lambda t: t.strip(" ") != "")
    )
    return texts, trashed, term


def test_search_finds_exactly_what_ilike_finds(conn: Conn) -> None:
    """search_generations returns, newest first, exactly the caller's rows in the history
    whose prompt ILIKE '%term%' with the term matched literally, whatever the letters,
    case, punctuation, length of the term, or where in a word it falls; another user's
    rows with the same prompts never appear."""

    @fuzz_settings(max_examples=200)
    @given(case=search_cases())
    @example(case=(["Crème brûlée-Straße 42"], [False], "é"))
    @example(case=(["Straße in 日本, 50% off_now \\o/"], [False], "日本"))
    @example(case=(["Straße in 日本, 50% off_now \\o/"], [False], "SSE"))
    @example(case=(["50% off", "500 off", "a_b", "axb", "back\\slash"], [False] * 5, "%"))
    @example(case=(["50% off", "500 off", "a_b", "axb", "back\\slash"], [False] * 5, "_"))
    @example(case=(["50% off", "500 off", "a_b", "axb", "back\\slash"], [False] * 5, "\\"))
    @example(case=(["well-known delicate", "known"], [False, True], "licat"))
    @example(case=(["well-known delicate", "known"], [False, False], "L-KN"))
    @example(case=(["ab", "xaby"], [False, False], "Ab"))
    def search_matches_ilike(case: tuple[list[str], list[bool], str]) -> None:
        texts, trashed, term = case
        with rolled_back(conn):
            me, other = create_user(conn, credits=0), create_user(conn, credits=0)
            for user in (me, other):
                conn.execute(
                    "insert into public.user_generations"
                    "   (user_id, prompt, image_url, created_at, trashed_at)"
                    " select %s, r.prompt, %s || '/' || r.n || '.webp',"
                    "        now() - r.n * interval '1 minute',"
                    "        case when r.trashed then now() end"
                    "   from unnest(%s::text[], %s::boolean[]) with ordinality"
                    "     as r (prompt, trashed, n)",
                    (user.id, user.id, texts, trashed),
                )
            expected = conn.execute(
                "select id, prompt from public.user_generations"
                " where user_id = %s and trashed_at is null and prompt ilike %s"
                " order by created_at desc, id desc",
                (me.id, ilike_literal(term.strip(" "))),
            ).fetchall()
            with as_user(conn, me):
                found = conn.execute(
                    "select id, prompt from public.search_generations(%s, page_size => 1000)",
                    (term,),
                ).fetchall()
            assert found == expected, json.dumps({"term": term, "prompts": texts})

    search_matches_ilike()
