"""Credits in SQL: reservations under concurrency, settling once, sweeps and grants.

Concurrent callers each get their own connection and act as the user the way
PostgREST does (``acting_as``), so the row locks and unique constraints in
credits.sql are what keeps the numbers right.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.rows import tuple_row

from tests.support.database import acting_as
from tests.support.users import User, user_claims


def balance(admin: psycopg.Connection[Any], user: User) -> int | None:
    row = admin.execute(
        "select credits from public.user_credits where user_id = %s", (user.id,)
    ).fetchone()
    return None if row is None else int(row["credits"])


def ledger_sum(admin: psycopg.Connection[Any], user: User) -> int:
    row = admin.execute(
        "select coalesce(sum(delta), 0) as total from public.credit_ledger where user_id = %s",
        (user.id,),
    ).fetchone()
    assert row is not None
    return int(row["total"])


def reserve(conn: psycopg.Connection[Any], user: User, key: str) -> str:
    """Reserve one credit as ``user``; returns the reservation id."""
    with acting_as(conn, "authenticated", user_claims(user)):
        cur = conn.cursor(row_factory=tuple_row)
        row = cur.execute("select reservation_id from public.reserve_credit(%s)", (key,)).fetchone()
    assert row is not None
    return str(row[0])


def run_concurrently(
    database_url: str, count: int, work: Callable[[psycopg.Connection[Any], int], str]
) -> list[str]:
    """Run ``work`` on ``count`` threads, each with its own connection, released together.

    Returns each thread's result, or the SQLSTATE of the error it raised.
    """
    start = threading.Barrier(count, timeout=30)

    def one(i: int) -> str:
        with psycopg.connect(database_url) as conn:
            start.wait()
            try:
                return work(conn, i)
            except psycopg.Error as exc:
                return exc.sqlstate or "unknown"

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_fifty_concurrent_reservations_grant_exactly_ten(
    database_url: str, admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """50 racing reservations against 10 credits: 10 granted, 40 refused with GV001."""
    user = make_user(credits=10)

    def work(conn: psycopg.Connection[Any], i: int) -> str:
        reserve(conn, user, f"race-{i}")
        return "granted"

    outcomes = Counter(run_concurrently(database_url, 50, work))
    assert outcomes == {"granted": 10, "GV001": 40}
    assert balance(admin, user) == 0
    assert ledger_sum(admin, user) == 0


def test_same_key_retried_concurrently_charges_once(
    database_url: str, admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """Ten simultaneous retries of one idempotency key make one reservation."""
    user = make_user(credits=10)
    outcomes = run_concurrently(database_url, 10, lambda conn, _: reserve(conn, user, "retried"))
    assert len(set(outcomes)) == 1, outcomes
    assert uuid.UUID(outcomes[0])  # a reservation id, not an error code
    assert balance(admin, user) == 9
    rows = admin.execute(
        "select count(*) as n from public.credit_ledger where user_id = %s and reason = 'reserve'",
        (user.id,),
    ).fetchone()
    assert rows == {"n": 1}


def test_reserving_with_a_key_already_used_by_a_grant_is_refused(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """A key taken by an operator's grant is no reservation: 23505, nothing held or charged."""
    user = make_user(credits=1)
    with acting_as(admin, "service_role", {"role": "service_role"}):
        admin.execute("select public.grant_credits(%s, 2, 'shared-key')", (user.id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        reserve(admin, user, "shared-key")
    assert balance(admin, user) == ledger_sum(admin, user) == 3


def test_refunding_twice_refunds_once(admin: psycopg.Connection[Any], make_user: Any) -> None:
    """The second refund of a reservation returns false and gives nothing back."""
    user = make_user(credits=3)
    reservation = reserve(admin, user, "refund-me")
    refunds = []
    for _ in range(2):
        with acting_as(admin, "authenticated", user_claims(user)):
            row = admin.execute(
                "select public.refund_credit(%s) as done", (reservation,)
            ).fetchone()
        assert row is not None
        refunds.append(row["done"])
    assert refunds == [True, False]
    assert balance(admin, user) == 3
    assert ledger_sum(admin, user) == 3


def test_spending_a_refunded_reservation_fails(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """record_generation on a refunded reservation raises 55000 and records nothing."""
    user = make_user(credits=3)
    reservation = reserve(admin, user, "spend-late")
    with acting_as(admin, "authenticated", user_claims(user)):
        admin.execute("select public.refund_credit(%s)", (reservation,))
    with (
        pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState),
        acting_as(admin, "authenticated", user_claims(user)),
    ):
        admin.execute(
            "select * from public.record_generation(%s, 'a cat', %s, 'test/model')",
            (reservation, f"{user.id}/cat.webp"),
        )
    rows = admin.execute(
        "select count(*) as n from public.user_generations where user_id = %s", (user.id,)
    ).fetchone()
    assert rows == {"n": 0}
    assert balance(admin, user) == ledger_sum(admin, user) == 3


def _backdate(admin: psycopg.Connection[Any], reservation: str) -> None:
    admin.execute(
        "update public.credit_ledger set created_at = now() - interval '1 hour' where id = %s",
        (reservation,),
    )


def _expire(admin: psycopg.Connection[Any], role: str, claims: dict[str, Any]) -> set[str]:
    with acting_as(admin, role, claims):
        rows = admin.execute("select reservation_id from public.expire_reservations()").fetchall()
    return {str(r["reservation_id"]) for r in rows}


def test_expiry_sweep_refunds_only_stale_unsettled_reservations_of_the_caller(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """A user's sweep takes their stale held reservations; service_role's takes everyone's."""
    me, them = make_user(credits=5), make_user(credits=5)
    stale = reserve(admin, me, "stale")
    fresh = reserve(admin, me, "fresh")
    spent = reserve(admin, me, "spent")
    with acting_as(admin, "authenticated", user_claims(me)):
        admin.execute(
            "select * from public.record_generation(%s, 'kept', %s, 'test/model')",
            (spent, f"{me.id}/kept.webp"),
        )
    theirs = reserve(admin, them, "theirs")
    for reservation in (stale, spent, theirs):
        _backdate(admin, reservation)

    assert _expire(admin, "authenticated", user_claims(me)) == {stale}
    swept_by_operator = _expire(admin, "service_role", {"role": "service_role"})
    assert theirs in swept_by_operator
    assert swept_by_operator.isdisjoint({stale, fresh, spent})

    assert balance(admin, me) == ledger_sum(admin, me) == 5 - 2  # fresh held, spent kept
    assert balance(admin, them) == ledger_sum(admin, them) == 5


def test_grant_credits_is_refused_to_users(admin: psycopg.Connection[Any], make_user: Any) -> None:
    """A signed-in user cannot grant credits, not even to themselves."""
    user = make_user(credits=1)
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        acting_as(admin, "authenticated", user_claims(user)),
    ):
        admin.execute("select public.grant_credits(%s, 100)", (user.id,))
    assert balance(admin, user) == 1


def test_grant_credits_by_service_role_is_idempotent_per_key(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """service_role grants; repeating the same key grants once and reports the balance."""
    user = make_user(credits=1)
    results = []
    for _ in range(2):
        with acting_as(admin, "service_role", {"role": "service_role"}):
            row = admin.execute(
                "select public.grant_credits(%s, 5, 'invoice-42') as credits", (user.id,)
            ).fetchone()
        assert row is not None
        results.append(row["credits"])
    assert results == [6, 6]
    assert balance(admin, user) == ledger_sum(admin, user) == 6


def test_deleting_the_auth_user_removes_credits_ledger_and_generations(
    admin: psycopg.Connection[Any], make_user: Any
) -> None:
    """Removing a row from auth.users leaves nothing of that user behind."""
    user = make_user(credits=2)
    reservation = reserve(admin, user, "before-delete")
    with acting_as(admin, "authenticated", user_claims(user)):
        admin.execute(
            "select * from public.record_generation(%s, 'goodbye', %s, 'test/model')",
            (reservation, f"{user.id}/bye.webp"),
        )
    admin.execute("delete from auth.users where id = %s", (user.id,))
    left = admin.execute(
        "select (select count(*) from public.user_credits where user_id = %(u)s) as credits,"
        " (select count(*) from public.credit_ledger where user_id = %(u)s) as ledger,"
        " (select count(*) from public.user_generations where user_id = %(u)s) as generations",
        {"u": user.id},
    ).fetchone()
    assert left == {"credits": 0, "ledger": 0, "generations": 0}


@pytest.fixture
def starter_credits(admin: psycopg.Connection[Any]) -> Iterator[Callable[[int], None]]:
    """Set genvault_config.starter_credits for one test, restoring it afterwards."""
    row = admin.execute("select starter_credits from public.genvault_config").fetchone()
    assert row is not None

    def set_starter(amount: int) -> None:
        admin.execute("update public.genvault_config set starter_credits = %s", (amount,))

    yield set_starter
    set_starter(row["starter_credits"])


@pytest.mark.parametrize("amount", [0, 3])
def test_starter_credits_come_from_config(
    admin: psycopg.Connection[Any],
    make_user: Any,
    starter_credits: Callable[[int], None],
    amount: int,
) -> None:
    """A new user starts with genvault_config.starter_credits, explained by the ledger."""
    starter_credits(amount)
    user = make_user()
    assert balance(admin, user) == amount
    entries = admin.execute(
        "select reason, delta from public.credit_ledger where user_id = %s", (user.id,)
    ).fetchall()
    assert entries == ([{"reason": "starter", "delta": amount}] if amount else [])
