"""An image that was saved is never lost, and a crash costs nothing. `gen create` killed
with SIGKILL at each stage of a generation, and PostgreSQL restarted under a run of
creates, then the expiry sweep.

The stage a process has reached is read from the outside: the ledger (its reservation
appears), the request log of the local Replicate stand-in (prediction created, polled)
and the user's storage folder (files appear). To stop a process between its upload and
its insert, the test holds a row lock on the process's reservation from the owner
connection, so that `record_generation` blocks, and kills it there.

Afterwards `Client.sweep(older_than=timedelta(0))` as that user must leave: the balance
as it was before the crash, a ledger that adds up with nothing left open, no row without
its files, no file without its row, and the image saved before the crash intact.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from genvault import Client
from genvault._exceptions import GenvaultError
from tests.support.cli import GEN_SCRIPT
from tests.support.fake_replicate import FakeReplicate, serve
from tests.support.library import ScriptedModel, client_for, png_bytes, settings_for
from tests.support.reliability import (
    Evidence,
    HostedProject,
    books,
    gen_env,
    login_local,
    set_balance,
    wait_for,
)
from tests.support.users import User, create_user

STAGES = ["after the reservation", "while the model runs", "after the upload", "during the insert"]


def half_written(folder: Path) -> list[str]:
    """Files in a storage folder that are not (yet) a stored image or thumbnail."""
    return [n for n in os.listdir(folder) if not n.endswith(".webp")]


def every_file(images: Path, user_id: str) -> set[str]:
    """Every file in the user's folder, half-written temporary files included."""
    folder = images / user_id
    return {f"{user_id}/{p.name}" for p in folder.iterdir()} if folder.is_dir() else set()


class Crash:
    """One user with a saved image, a `gen create` about to start, and ways to watch it."""

    def __init__(
        self, admin: psycopg.Connection[Any], database_url: str, home: Path, fake: FakeReplicate
    ) -> None:
        self.admin = admin
        self.database_url = database_url
        self.home = home
        self.images = home / "images"
        self.fake = fake
        self.env = gen_env(
            database_url,
            home,
            REPLICATE_API_TOKEN=fake.token,
            REPLICATE_BASE_URL=fake.api_url,
        )
        self.user: User = login_local(self.env, admin, f"crash-{secrets.token_hex(3)}")
        set_balance(admin, self.user.id, 3)
        with self.client() as gv:
            self.kept = gv.create("saved before the crash", model=ScriptedModel())
            self.kept_bytes = gv.generations.read_image(self.kept)
        self.kept_files = every_file(self.images, self.user.id)
        self.before = books(admin, self.user.id, self.files)
        self.proc: subprocess.Popen[str] | None = None
        self.lock: psycopg.Connection[Any] | None = None
        self.blocked_backend: int | None = None

    def client(self) -> Client:
        return client_for(self.user, self.database_url, self.home)

    def files(self, user_id: str) -> set[str]:
        return every_file(self.images, user_id)

    def new_files(self) -> set[str]:
        return self.files(self.user.id) - self.kept_files

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(GEN_SCRIPT), "create", "a crash in progress", "--json"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is None:
            return True
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise AssertionError(f"gen create ended by itself ({self.proc.returncode}): {err}")

    def open_reservation(self) -> str | None:
        row = self.admin.execute(
            "select l.id::text as id from public.credit_ledger l where l.user_id = %s"
            " and l.reason = 'reserve' and not exists ("
            "  select from public.credit_ledger s where s.settles = l.id)",
            (self.user.id,),
        ).fetchone()
        self.alive()
        return row["id"] if row else None

    def hold_reservation(self) -> None:
        """Lock the process's reservation row, so its record_generation will wait."""
        reservation = wait_for("the reservation", self.open_reservation)
        self.lock = psycopg.connect(self.database_url, row_factory=dict_row)
        self.lock.execute(
            "select id from public.credit_ledger where id = %s for update", (reservation,)
        )

    def blocked_by_the_lock(self) -> int | None:
        """The server process of a session waiting for the held row lock."""
        assert self.lock is not None
        row = self.admin.execute(
            "select pid from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
            (self.lock.info.backend_pid,),
        ).fetchone()
        return int(row["pid"]) if row else None

    def backend_waiting_on_the_lock(self) -> int | None:
        self.alive()
        return self.blocked_by_the_lock()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        if self.lock is not None:
            self.blocked_backend = self.blocked_by_the_lock()
            self.lock.rollback()
            self.lock.close()
            if self.blocked_backend is not None:
                # The server finishes the statement, finds its client gone and rolls back.
                wait_for("the dead client's backend to end", self._backend_gone)

    def _backend_gone(self) -> bool:
        row = self.admin.execute(
            "select count(*)::int as n from pg_stat_activity where pid = %s",
            (self.blocked_backend,),
        ).fetchone()
        return row is not None and row["n"] == 0

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        if self.lock is not None and not self.lock.closed:
            self.lock.close()


@pytest.fixture
def crash(admin: psycopg.Connection[Any], database_url: str, tmp_path: Path) -> Iterator[Crash]:
    with serve() as fake:
        made = Crash(admin, database_url, tmp_path / "vault", fake)
        try:
            yield made
        finally:
            made.close()


@pytest.mark.parametrize("stage", STAGES)
def test_a_killed_gen_create_is_repaired_by_the_sweep(
    crash: Crash, stage: str, evidence: Evidence
) -> None:
    """`gen create` (Replicate model, local files) killed with SIGKILL after its
    reservation, while its prediction runs, after its upload, and blocked inside its
    insert; then the user's expiry sweep refunds the credit and removes the orphaned
    files, and the image saved earlier is untouched."""
    fake = crash.fake
    if stage == "after the reservation":
        fake.script.create_429 = 1  # the create is refused once; the retry waits a minute
        fake.script.retry_after = "60"
    elif stage == "while the model runs":
        fake.script.outcome = "hang"
    crash.start()

    if stage == "after the reservation":
        wait_for("the reservation", crash.open_reservation)
        wait_for("the refused prediction", lambda: crash.alive() and fake.creates())
    elif stage == "while the model runs":
        wait_for("a poll of the running prediction", lambda: crash.alive() and fake.polls())
    else:
        crash.hold_reservation()
        wait_for(
            "the image and its thumbnail", lambda: crash.alive() and len(crash.new_files()) >= 2
        )
        if stage == "during the insert":
            wait_for("record_generation waiting on the lock", crash.backend_waiting_on_the_lock)
    crash.kill()
    evidence.add("kill points")

    left = books(crash.admin, crash.user.id, crash.files)
    uploaded = stage in ("after the upload", "during the insert")
    # A process killed inside its insert may already have sent the whole transaction
    # (BEGIN, the call, COMMIT); then the server commits it once the lock is released,
    # and the image is saved and paid for. Otherwise its reservation is left open.
    saved = set(left.rows) - {crash.kept.id}
    assert len(saved) <= 1
    if saved:
        assert uploaded, "a row appeared before the image was stored"
        assert left.open_reservations == 0
        evidence.note(f"killed {stage}: the insert committed anyway (the image is kept)")
    else:
        assert left.open_reservations == 1, "the killed process held a reservation"
        evidence.note(f"killed {stage}: no row, the reservation was left open")
    assert left.balance == (crash.before.balance or 0) - 1
    assert len(crash.new_files()) == (2 if uploaded else 0), crash.new_files()
    if stage == "during the insert":
        assert crash.blocked_backend is not None, "the process was not inside its insert"
    if stage == "while the model runs":
        assert fake.cancels() == []
        evidence.note(
            "a `gen create` killed while its prediction runs leaves the prediction running"
            " on Replicate (nothing is left to cancel it); only the credit is refunded"
        )

    with crash.client() as gv:
        swept = gv.sweep(older_than=timedelta(0))
        orphaned = 2 if uploaded and not saved else 0
        assert (swept.refunded, swept.files_removed) == (0 if saved else 1, orphaned)
        assert gv.generations.read_image(crash.kept) == crash.kept_bytes
        for gen_id in saved:
            data = gv.generations.read_image(gen_id)
            assert hashlib.sha256(data).hexdigest() == left.rows[gen_id]["image_sha256"]
    after = books(crash.admin, crash.user.id, crash.files)
    after.assert_consistent()
    assert after.balance == (crash.before.balance or 0) - len(saved)
    assert set(after.rows) == {crash.kept.id} | saved
    if not saved:
        assert crash.files(crash.user.id) == crash.kept_files


def test_a_process_killed_while_writing_a_file_leaves_no_partial_file(
    crash: Crash, evidence: Evidence
) -> None:
    """`gen create` frozen (SIGSTOP) the moment a half-written temporary file shows in
    the user's folder, then killed: after the sweep no file of the dead process remains
    in the folder, temporary ones included (up to 5 tries to catch the moment)."""
    caught = None
    for attempt in range(5):
        crash.start()
        assert crash.proc is not None
        folder = crash.images / crash.user.id
        deadline = time.monotonic() + 60
        while crash.proc.poll() is None and time.monotonic() < deadline:
            partial = half_written(folder)
            if partial:
                crash.proc.send_signal(signal.SIGSTOP)
                if half_written(folder):
                    caught = partial
                crash.proc.send_signal(signal.SIGKILL)
                break
        crash.proc.wait(timeout=30)
        evidence.add("attempts to kill mid-write")
        if caught:
            break
        # Not caught: the process finished (or was killed after the rename); start over.
        with crash.client() as gv:
            gv.sweep(older_than=timedelta(0))
            for gen in gv.generations.list().items:
                if gen.id != crash.kept.id:
                    gv.generations.delete([gen.id])
        set_balance(crash.admin, crash.user.id, 3)
        crash.kept_files = every_file(crash.images, crash.user.id)
        evidence.note(f"mid-write kill attempt {attempt + 1} missed the moment")
    if not caught:
        # The write was faster than the poll every time: leave behind exactly what a
        # writer killed at that moment leaves, a temporary file beside its target.
        folder = crash.images / crash.user.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{'0' * 64}.webp.4242-1.part").write_bytes(b"RIFF half")
        evidence.note("no kill landed mid-write; a killed writer's temporary file was left instead")
    else:
        evidence.add("processes killed mid-write")
    with crash.client() as gv:
        gv.sweep(older_than=timedelta(0))
    assert crash.files(crash.user.id) == crash.kept_files, "a partial file was left behind"


def start_embedded_elsewhere(server: Path) -> str:
    """Start the embedded server of ``server`` from a new process; its URL."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from genvault._embedded import embedded_url;"
            " print(embedded_url(pathlib.Path(sys.argv[1])))",
            str(server),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_postgres_restarted_in_the_middle_of_creates(
    tmp_path_factory: pytest.TempPathFactory, evidence: Evidence
) -> None:
    """A dedicated embedded PostgreSQL stopped (fast shutdown) and started again by
    another process while 3 threads keep creating, with 3 creates caught inside
    record_generation at that moment: each create either saved its image or failed with a genvault
    error (a failed one whose commit had already reached the server may be saved too),
    the same client carries on after the restart, and after the sweep the books
    balance with no reservation left open and rows and files one to one."""
    from genvault._embedded import embedded_url, stop_embedded
    from genvault._migrate import migrate

    server = tmp_path_factory.mktemp("pgr")
    vault = tmp_path_factory.mktemp("pgr-vault")
    url = embedded_url(server)
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as admin:
            user = create_user(admin, credits=40)
        made: list[str] = []
        failed: list[str] = []
        lock = threading.Lock()

        def slow() -> None:
            time.sleep(0.02)

        with Client(settings_for(url, vault), access_token=user.token()) as gv:

            def worker(n: int) -> None:
                for i in range(6):
                    try:
                        gen = gv.create(
                            f"restart {n}-{i}",
                            model=ScriptedModel(data=png_bytes((n, i, 9)), before_return=slow),
                        )
                    except GenvaultError as exc:
                        with lock:
                            failed.append(f"{type(exc).__name__}: {exc.message[:70]}")
                    else:
                        with lock:
                            made.append(gen.id)

            gv.credits.balance()
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
            blocker = psycopg.connect(url, row_factory=dict_row)
            watcher = psycopg.connect(url, autocommit=True, row_factory=dict_row)
            try:
                blocker.execute("lock table public.user_generations in share mode")
                for t in threads:
                    t.start()

                def waiting() -> bool:
                    row = watcher.execute(
                        "select count(distinct pid)::int as n from pg_locks where not granted"
                    ).fetchone()
                    return row is not None and row["n"] == 3

                # Every thread is now inside record_generation: one waits for the
                # table, the others for its row of the user's summary (the spend is
                # counted there before the generation is inserted).
                wait_for("3 creates waiting", waiting)
                stop_embedded(server)
            finally:
                blocker.close()  # the shutdown ended their sessions; nothing to commit
                watcher.close()
            time.sleep(0.5)
            # Started again by another process, as the next `gen` command would start it.
            assert start_embedded_elsewhere(server) == url
            for t in threads:
                t.join(timeout=120)
            after_restart = gv.create("after the restart", model=ScriptedModel())
            made.append(after_restart.id)
            swept = gv.sweep(older_than=timedelta(0))
        evidence.add("creates attempted", len(made) + len(failed))
        evidence.add("creates cut off by the shutdown", len(failed))
        evidence.add("reservations the sweep still had to refund", swept.refunded)
        evidence.add("server restarts")
        if failed:
            evidence.note(f"errors seen during the restart: {sorted(set(failed))}")
        assert len(failed) >= 3, failed
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as admin:
            after = books(admin, user.id, lambda uid: every_file(vault / "images", uid))
        after.assert_consistent()
        # A create whose COMMIT reached the server just before the shutdown may be
        # saved although its caller saw the connection drop (no client can know the
        # outcome of a commit whose answer was lost). Such a row is complete and paid
        # for, with its files; every create reported as saved is there.
        assert set(made) <= set(after.rows)
        assert len(set(after.rows) - set(made)) <= len(failed)
        assert after.balance == 40 - len(made)
        for gen_id, row in after.rows.items():
            data = (vault / "images" / row["image_url"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row["image_sha256"], gen_id
    finally:
        stop_embedded(server)


def test_the_hosted_sweep_repairs_a_crash_too(
    admin: psycopg.Connection[Any], database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """On a hosted project (PostgREST and Storage of the project double): a generation
    that died after its upload (a reservation and two stored files, no row) is repaired
    by `Client.sweep(older_than=timedelta(0))` exactly as on a direct connection: the
    credit refunded, both files removed, the saved image untouched."""
    project = HostedProject(database_url, tmp_path / "hosted")
    try:
        user = create_user(admin, credits=3)
        with project.client(user.token()) as gv:
            kept = gv.create("saved before the crash", model=ScriptedModel())
            transport, storage, user_id = gv._user()
            [held] = transport.rpc("reserve_credit", {"idempotency_key": "died"})
            generation = held["reserved_for"]
            for suffix in (".webp", ".thumb.webp"):
                storage.put(f"{user_id}/{generation}{suffix}", png_bytes(), "image/webp")
            evidence.add("hosted crashes repaired")
            swept = gv.sweep(older_than=timedelta(0))
            assert (swept.refunded, swept.files_removed) == (1, 2)
            assert gv.generations.read_image(kept)[:4] == b"RIFF"
        after = books(admin, user.id, project.files)
        after.assert_consistent()
        assert after.balance == 2
        assert set(after.rows) == {kept.id}
    finally:
        project.close()
