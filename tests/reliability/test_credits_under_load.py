"""A credit is spent only for an image that was saved, and never twice. Many creates at
once for one user, through the library's threads and through parallel `gen create`
processes, and retries of one idempotency key.

After each run the owner connection checks the books: exactly as many images as there
were credits, a balance of 0, a ledger whose sum equals the balance (and whose change
equals the balance's change), no reservation left open, and rows and stored files that
match one to one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault._exceptions import Conflict, GenvaultError, InsufficientCredits
from tests.support.cli import GEN_SCRIPT
from tests.support.fake_replicate import serve
from tests.support.library import ScriptedModel, client_for, png_bytes
from tests.support.reliability import (
    PROCESSES,
    THREADS,
    Evidence,
    HostedProject,
    assert_clean_cli_failure,
    books,
    gen_env,
    local_files,
    login_local,
    set_balance,
    tiny_png,
    wait_for,
)
from tests.support.users import User

CREDITS = 10
CLIENTS = 8  # library clients, each with its own connection pool, sharing the threads


def run_threads(n: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; the outcome or error of each."""
    start = threading.Barrier(n)

    def one(i: int) -> Any:
        start.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def kinds(outcomes: list[Any]) -> Counter[str]:
    return Counter("ok" if not isinstance(o, Exception) else type(o).__name__ for o in outcomes)


def test_concurrent_library_creates_spend_exactly_the_balance(
    make_user: Any,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """Creates started at the same instant from many threads over 8 clients, for a user
    holding 10 credits: exactly 10 images, InsufficientCredits for all the others and
    no other error, balance 0, ledger sum equal to the balance and its change to -10."""
    user = make_user(credits=CREDITS)
    files = local_files(tmp_path / "images")
    before = books(admin, user.id, files)
    clients = [client_for(user, database_url, tmp_path) for _ in range(CLIENTS)]
    for c in clients:
        c.credits.balance()  # open each pool before the race
    try:
        outcomes = run_threads(
            THREADS,
            lambda i: clients[i % CLIENTS].create(
                f"load {i}", model=ScriptedModel(data=png_bytes((i % 250, 7, 7)))
            ),
        )
    finally:
        for c in clients:
            c.close()
    evidence.add("concurrent library creates", THREADS)
    evidence.add("credits held", CREDITS)
    found = kinds(outcomes)
    after = books(admin, user.id, files)
    assert found == {"ok": CREDITS, "InsufficientCredits": THREADS - CREDITS}, found
    assert len(after.rows) == CREDITS
    assert {o.id for o in outcomes if not isinstance(o, Exception)} == set(after.rows)
    assert after.balance == 0
    assert after.ledger_sum - before.ledger_sum == after.balance - (before.balance or 0)
    after.assert_consistent()
    evidence.add("images saved", len(after.rows))


def test_parallel_gen_create_processes_spend_exactly_the_balance(
    admin: psycopg.Connection[Any], database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """Parallel `gen create --json` processes of the installed script, signed in with
    `gen login --local` as one user holding 10 credits: exactly 10 exit 0 with their
    image, every other one exits 1 with one clean error line, and the books balance."""
    home = tmp_path / "vault"
    env = gen_env(database_url, home)
    user = login_local(env, admin, f"load-{secrets.token_hex(3)}")
    set_balance(admin, user.id, CREDITS)
    files = local_files(home / "images")
    before = books(admin, user.id, files)
    procs = [
        subprocess.Popen(
            [str(GEN_SCRIPT), "create", f"process {i}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    evidence.add("concurrent gen create processes", PROCESSES)
    evidence.add("credits held", CREDITS)
    made = [json.loads(d.stdout)["generations"][0]["id"] for d in done if d.returncode == 0]
    refused = [d for d in done if d.returncode != 0]
    for d in refused:
        assert_clean_cli_failure(d, contains="credit")
    after = books(admin, user.id, files)
    assert len(made) == CREDITS, [d.stderr for d in refused][:3]
    assert set(made) == set(after.rows)
    assert after.balance == 0
    assert after.ledger_sum - before.ledger_sum == after.balance - (before.balance or 0)
    after.assert_consistent()
    evidence.add("images saved", len(made))


def test_concurrent_retries_of_one_idempotency_key_charge_once(
    make_user: Any,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """Many creates with the same idempotency key at the same instant (a client retrying
    a request it thinks was lost), then 5 more retries once it finished: one credit
    spent, one image saved, one reservation with that key, whatever each caller got."""
    user = make_user(credits=CREDITS)
    files = local_files(tmp_path / "images")
    clients = [client_for(user, database_url, tmp_path) for _ in range(CLIENTS)]
    for c in clients:
        c.credits.balance()
    try:
        outcomes = run_threads(
            THREADS,
            lambda i: clients[i % CLIENTS].create(
                "one kite", model=ScriptedModel(), idempotency_key="retried-key"
            ),
        )
        later = [clients[0].create("one kite", idempotency_key="retried-key") for _ in range(5)]
    finally:
        for c in clients:
            c.close()
    evidence.add("concurrent retries of one key", THREADS)
    evidence.add("retries after it finished", len(later))
    after = books(admin, user.id, files)
    assert after.balance == CREDITS - 1
    assert len(after.rows) == 1
    [saved] = after.rows
    assert {g.id for g in later} == {saved}
    keyed = admin.execute(
        "select count(*)::int as n from public.credit_ledger"
        " where user_id = %s and idempotency_key = 'retried-key'",
        (user.id,),
    ).fetchone()
    assert keyed is not None
    assert keyed["n"] == 1
    after.assert_consistent()
    evidence.note(f"concurrent same-key outcomes on the direct transport: {dict(kinds(outcomes))}")


def test_concurrent_retries_of_one_key_all_get_the_saved_generation(
    make_user: Any, database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """The same concurrent same-key creates: as Client.create promises, a retry
    "returns the first call's generation (or finishes it)", so every caller gets the one
    saved generation, and none is told to start over."""
    user = make_user(credits=CREDITS)
    clients = [client_for(user, database_url, tmp_path) for _ in range(CLIENTS)]
    for c in clients:
        c.credits.balance()
    try:
        outcomes = run_threads(
            THREADS,
            lambda i: clients[i % CLIENTS].create(
                "one kite", model=ScriptedModel(), idempotency_key="same-key"
            ),
        )
    finally:
        for c in clients:
            c.close()
    evidence.add("concurrent retries of one key", THREADS)
    errors = Counter(f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, Exception))
    assert not errors, errors.most_common(2)
    assert len({o.id for o in outcomes}) == 1


@pytest.fixture(params=["direct", "hosted"])
def transport(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Any:
    if request.param == "direct":
        yield request.param, lambda user: client_for(user, database_url, tmp_path), None
        return
    project = HostedProject(database_url, tmp_path / "hosted")
    yield request.param, lambda user: project.client(user.token()), project
    project.close()


def test_a_retry_while_the_first_attempt_runs_keeps_the_saved_image_intact(
    transport: Any, make_user: Any, evidence: Evidence
) -> None:
    """A retry with the same idempotency key sent from another thread while the first
    attempt's model is still running (a timeout-and-retry): one credit spent, the model
    run once, the stored image byte for byte the one the saved row describes (its
    SHA-256), and both calls get that generation."""
    _, open_client, _ = transport
    user: User = make_user(credits=3)
    retry_started = threading.Event()
    model_calls: list[str] = []

    def first_model_waits() -> None:
        model_calls.append("first")
        retry_started.wait(timeout=30)
        time.sleep(0.5)  # the retry is now waiting on the first attempt's reservation

    outcomes: dict[str, Any] = {}

    def attempt(name: str, model: ScriptedModel) -> None:
        with open_client(user) as gv:
            if name == "retry":
                retry_started.set()
            try:
                outcomes[name] = gv.create("a kite", model=model, idempotency_key="k")
            except GenvaultError as exc:
                outcomes[name] = exc

    retry_model = ScriptedModel(
        data=png_bytes((1, 99, 1)), before_return=lambda: model_calls.append("retry")
    )
    first = threading.Thread(
        target=attempt, args=("first", ScriptedModel(before_return=first_model_waits))
    )
    first.start()
    while not model_calls:
        time.sleep(0.01)
    retry = threading.Thread(target=attempt, args=("retry", retry_model))
    retry.start()
    first.join(timeout=120)
    retry.join(timeout=120)
    evidence.add("overlapping retries")
    with open_client(user) as gv:
        assert gv.credits.balance() == 2
        [row] = gv.generations.list().items
        stored = gv.generations.read_image(row)
    assert hashlib.sha256(stored).hexdigest() == row.image_sha256, (
        "the stored image is not the one the saved row describes"
    )
    assert model_calls == ["first"], f"the model ran for: {model_calls}"
    for name in ("first", "retry"):
        got = outcomes[name]
        assert not isinstance(got, Exception), f"the {name} attempt failed: {got!r}"
        assert got.id == row.id


def test_a_reservation_expired_during_a_slow_generation_is_a_conflict(
    make_user: Any,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """The expiry sweep refunds a reservation while its model is still running (another
    device ran `sweep`): the late create is refused as a Conflict (not "lost the
    connection to the database"), the credit comes back exactly once, no row is saved
    and its files are removed."""
    user = make_user(credits=2)
    files = local_files(tmp_path / "images")
    with (
        client_for(user, database_url, tmp_path) as gv,
        client_for(user, database_url, tmp_path) as other_device,
    ):

        def sweep_meanwhile() -> None:
            assert other_device.sweep(older_than=timedelta(0)).refunded == 1

        with pytest.raises(GenvaultError) as info:
            gv.create("slow", model=ScriptedModel(before_return=sweep_meanwhile))
    evidence.add("reservations expired under a running generation")
    after = books(admin, user.id, files)
    assert after.balance == 2
    assert after.rows == {}
    after.assert_consistent()
    assert isinstance(info.value, Conflict), repr(info.value)


def test_hosted_creates_spend_exactly_the_balance(
    make_user: Any,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """Through the hosted transport (PostgREST and Storage of the project double), 12
    creates in a row for a user holding 10 credits interleaved with balance reads: 10
    images, then InsufficientCredits, balance 0 and books that balance."""
    project = HostedProject(database_url, tmp_path / "hosted")
    user = make_user(credits=CREDITS)
    try:
        with project.client(user.token()) as gv:
            outcomes: list[Any] = []
            for i in range(CREDITS + 2):
                try:
                    outcomes.append(gv.create(f"hosted {i}", model=ScriptedModel(data=tiny_png())))
                except InsufficientCredits as exc:
                    outcomes.append(exc)
                assert gv.credits.balance() == max(0, CREDITS - i - 1)
        evidence.add("hosted creates", len(outcomes))
        after = books(admin, user.id, project.files)
        assert kinds(outcomes) == {"ok": CREDITS, "InsufficientCredits": 2}
        assert after.balance == 0
        after.assert_consistent()
    finally:
        project.close()


def test_gen_create_whose_reservation_was_refunded_meanwhile_fails_cleanly(
    admin: psycopg.Connection[Any], database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """`gen create` with a slow Replicate prediction, while the user's expiry sweep on
    another device refunds its reservation: the create exits 1 with one error line that
    says the reservation was already settled (not that the database connection was
    lost, and no raw PostgreSQL HINT or CONTEXT lines), the credit is back exactly once,
    and no row or file is left."""
    home = tmp_path / "vault"
    with serve() as fake:
        fake.script.processing_polls = 4
        env = gen_env(
            database_url, home, REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.api_url
        )
        user = login_local(env, admin, f"late-{secrets.token_hex(3)}")
        set_balance(admin, user.id, 3)
        files = local_files(home / "images")
        proc = subprocess.Popen(
            [str(GEN_SCRIPT), "create", "a slow fox", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        wait_for("the reservation", lambda: books(admin, user.id, files).open_reservations)
        with client_for(user, database_url, home) as other_device:
            assert other_device.sweep(older_than=timedelta(0)).refunded == 1
        out, err = proc.communicate(timeout=120)
    evidence.add("creates whose reservation expired under them")
    after = books(admin, user.id, files)
    assert after.balance == 3
    assert after.rows == {}
    after.assert_consistent()
    assert "lost the connection" not in err, f"reported as a lost connection:\n{err}"
    assert_clean_cli_failure(
        subprocess.CompletedProcess(proc.args, proc.returncode, out, err), contains="settled"
    )
