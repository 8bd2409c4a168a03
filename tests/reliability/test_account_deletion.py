"""Deleting an account erases every row, ledger entry and stored file of that user, and
nothing of anybody else. Several users with history, through both transports and
`gen account delete`, counted before and after.

Each user's data is captured whole before the deletion (the auth user, the balance
row, every ledger entry, every generation row and the SHA-256 of every stored file);
afterwards the deleted user must have none of it left and every other user must
have exactly what they had.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault import Client
from genvault._exceptions import GenvaultError
from tests.support.library import ScriptedModel, client_for, png_bytes
from tests.support.reliability import (
    Evidence,
    HostedProject,
    gen_env,
    login_local,
    run_gen,
    snapshot,
    wait_for,
)
from tests.support.users import User, create_user


class Users:
    """Four users with different histories on one transport."""

    def __init__(
        self, name: str, admin: psycopg.Connection[Any], database_url: str, home: Path
    ) -> None:
        self.name = name
        self.admin = admin
        self.home = home
        self._database_url = database_url
        self.project = HostedProject(database_url, home / "hosted") if name == "hosted" else None
        self.users: list[User] = [create_user(admin, credits=6) for _ in range(4)]
        for n, user in enumerate(self.users):
            with self.client(user) as gv:
                made = [
                    gv.create(f"user {n} image {i}", model=ScriptedModel(data=png_bytes((n, i, 3))))
                    for i in range(n + 1)
                ]
                if n == 1:  # one open reservation, as of a generation still running
                    gv._user()[0].rpc(
                        "reserve_credit",
                        {"idempotency_key": "still-running"},
                    )
                if n == 2:  # a deleted image and a refunded failure
                    gv.generations.delete([made[0].id])
                    with pytest.raises(GenvaultError):
                        gv.create("fails", model=ScriptedModel(fail_with=GenvaultError("no")))
            if n == 3:
                admin.execute("select public.grant_credits(%s, 5, 'bonus')", (user.id,))

    def client(self, user: User) -> Client:
        if self.project is not None:
            return self.project.client(user.token())
        return client_for(user, self._database_url, self.home)

    def read(self, user_id: str) -> dict[str, bytes]:
        if self.project is not None:
            return self.project.read(user_id)
        folder = self.home / "images" / user_id
        if not folder.is_dir():
            return {}
        return {f"{user_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}

    def snapshots(self) -> dict[str, dict[str, Any]]:
        return {u.id: snapshot(self.admin, u.id, self.read) for u in self.users}

    def close(self) -> None:
        if self.project is not None:
            self.project.close()


@pytest.fixture(params=["direct", "hosted"])
def users(
    request: pytest.FixtureRequest,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
) -> Iterator[Users]:
    made = Users(request.param, admin, database_url, tmp_path)
    yield made
    made.close()


def nothing_left(snap: dict[str, Any]) -> dict[str, int]:
    """How much of each kind of data a snapshot still holds (all zero when erased)."""
    return {kind: len(value) for kind, value in snap.items()}


@pytest.mark.parametrize("victim", [0, 2, 3])
def test_deleting_one_account_leaves_every_other_untouched(
    users: Users, victim: int, evidence: Evidence
) -> None:
    """Four users with histories (images, an open reservation, a deleted image, a refund,
    an operator grant); one deletes their account: its auth user, balance, ledger,
    generations and stored files are all gone, the counts it reports match what it had,
    and each of the three others keeps exactly the data and file bytes they had."""
    before = users.snapshots()
    gone = users.users[victim]
    with users.client(gone) as gv:
        removed = gv.delete_account()
    after = users.snapshots()
    had = before[gone.id]
    assert removed["generations"] == len(had["rows"])
    assert removed["ledger_entries"] == len(had["ledger"])
    assert removed["files"] == len(had["files"])
    assert nothing_left(after[gone.id]) == dict.fromkeys(had, 0)
    for user in users.users:
        if user is not gone:
            assert after[user.id] == before[user.id], f"another user's data changed ({user.id})"
    evidence.add("accounts deleted")
    evidence.add("other users checked unchanged", len(users.users) - 1)
    evidence.add("rows, ledger entries and files counted", sum(len(v) for v in had.values()))


def test_gen_account_delete_removes_everything_of_that_user_only(
    admin: psycopg.Connection[Any], database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """`gen account delete --yes --json` for one of two local users sharing a data folder
    (two profiles): its rows, ledger, balance, files and saved session are gone, `gen
    list` then says nobody is signed in, and the other profile's user is untouched."""
    home = tmp_path / "vault"
    env = gen_env(database_url, home)
    names = [f"del-{secrets.token_hex(3)}", f"keep-{secrets.token_hex(3)}"]
    people = []
    for name in names:
        user = login_local({**env, "GENVAULT_PROFILE": name}, admin, name)
        people.append(user)
        for i in range(2):
            done = run_gen("--profile", name, "create", f"{name} {i}", "--json", env=env)
            assert done.returncode == 0, done.stderr

    def read(user_id: str) -> dict[str, bytes]:
        folder = home / "images" / user_id
        if not folder.is_dir():
            return {}
        return {f"{user_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}

    before = {u.id: snapshot(admin, u.id, read) for u in people}
    done = run_gen("--profile", names[0], "account", "delete", "--yes", "--json", env=env)
    assert done.returncode == 0, done.stderr
    removed = json.loads(done.stdout)
    after = {u.id: snapshot(admin, u.id, read) for u in people}
    gone, kept = people
    assert removed["generations"] == 2
    assert removed["files"] == len(before[gone.id]["files"]) == 4
    assert nothing_left(after[gone.id]) == dict.fromkeys(before[gone.id], 0)
    assert after[kept.id] == before[kept.id]
    assert not (home / "profiles" / names[0] / "session.json").exists()
    again = run_gen("--profile", names[0], "list", env=env)
    assert again.returncode == 1
    assert "nobody is signed in" in again.stderr
    evidence.add("accounts deleted with gen")
    evidence.add("other users checked unchanged")


def test_an_account_deleted_while_its_generation_finishes_leaves_no_file_behind(
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """The account is deleted from one device while a create finishes on another: the
    create's files land after the deletion listed the folder and before the database
    erased the rows. Whatever each side reports, no row and no stored file of the
    account may remain."""
    user = create_user(admin, credits=3)
    folder = tmp_path / "images" / user.id
    with client_for(user, database_url, tmp_path) as gv:
        gv.create("an older image", model=ScriptedModel(data=png_bytes((5, 5, 5))))
    outcome: dict[str, Any] = {}
    holder = psycopg.connect(database_url)
    try:
        # Hold the auth user, so that the deletion waits right after removing the files
        # it found and before erasing the rows.
        holder.execute("select id from auth.users where id = %s for update", (user.id,))

        def delete_account() -> None:
            with client_for(user, database_url, tmp_path) as device:
                try:
                    outcome["deleted"] = device.delete_account()
                except GenvaultError as exc:
                    outcome["error"] = exc

        deleting = threading.Thread(target=delete_account)
        deleting.start()
        wait_for("the deletion to wait for the auth user", waiting_on(admin, holder))
        with client_for(user, database_url, tmp_path) as other_device:
            outcome["created"] = other_device.create("finishing", model=ScriptedModel())
        holder.rollback()
        deleting.join(timeout=60)
    finally:
        holder.close()
    evidence.add("deletions raced with a finishing create")
    evidence.note(
        f"deletion racing a create reported: {outcome.get('error') or outcome.get('deleted')!r}"
    )
    left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    rows = admin.execute(
        "select count(*)::int as n from public.user_generations where user_id = %s", (user.id,)
    ).fetchone()
    assert rows is not None
    assert rows["n"] == 0
    assert left == [], f"stored files of the deleted account remain: {left}"


def waiting_on(
    admin: psycopg.Connection[Any], holder: psycopg.Connection[Any]
) -> Callable[[], bool]:
    def check() -> bool:
        row = admin.execute(
            "select count(*)::int as n from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
            (holder.info.backend_pid,),
        ).fetchone()
        return row is not None and row["n"] > 0

    return check
