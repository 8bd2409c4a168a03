"""The generation flow keeps its promises: a credit is spent only for a saved image,
a failure anywhere refunds exactly once, and nothing half-written is left behind."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault import Conflict, InsufficientCredits, InvalidInput, ModelFailed, StorageFailed
from genvault._storage import LocalStorage
from tests.support.library import (
    ClientOf,
    ScriptedModel,
    SignIn,
    failing_model,
    png_bytes,
)


def balance(admin: psycopg.Connection[Any], user_id: str) -> int:
    row = admin.execute(
        "select credits from public.user_credits where user_id = %s", (user_id,)
    ).fetchone()
    assert row is not None
    return int(row["credits"])


def ledger_sum(admin: psycopg.Connection[Any], user_id: str) -> int:
    row = admin.execute(
        "select coalesce(sum(delta), 0) as s from public.credit_ledger where user_id = %s",
        (user_id,),
    ).fetchone()
    assert row is not None
    return int(row["s"])


def rows_of(admin: psycopg.Connection[Any], user_id: str) -> int:
    row = admin.execute(
        "select count(*) as n from public.user_generations where user_id = %s", (user_id,)
    ).fetchone()
    assert row is not None
    return int(row["n"])


def stored_files(home: Path, user_id: str) -> list[Path]:
    folder = home / "images" / user_id
    return sorted(folder.iterdir()) if folder.exists() else []


def test_create_spends_one_credit_and_stores_the_image_before_the_row(
    admin: Any, signed_in: SignIn, tmp_path: Path
) -> None:
    with signed_in(credits=3) as (user, gv):
        gen = gv.create("a red fox in fresh snow", model=ScriptedModel(), seed=7)
        assert gen.prompt == "a red fox in fresh snow"
        assert gen.image_url.startswith(f"{user.id}/")
        assert gen.params["seed"] == 7
        assert gv.generations.read_image(gen)[:4] == b"RIFF"  # WebP container
        assert gv.generations.read_image(gen, thumbnail=True)[:4] == b"RIFF"
    assert balance(admin, user.id) == 2
    assert ledger_sum(admin, user.id) == 2
    assert len(stored_files(tmp_path, user.id)) == 2  # image and thumbnail


@pytest.mark.parametrize(
    ("error", "expected"),
    [(ModelFailed("boom"), ModelFailed), (KeyboardInterrupt(), KeyboardInterrupt)],
)
def test_model_failure_or_ctrl_c_refunds_and_leaves_nothing(
    admin: Any,
    signed_in: SignIn,
    tmp_path: Path,
    error: BaseException,
    expected: type[BaseException],
) -> None:
    with signed_in(credits=1) as (user, gv), pytest.raises(expected):
        gv.create("a lighthouse", model=ScriptedModel(fail_with=error))
    assert balance(admin, user.id) == 1
    assert ledger_sum(admin, user.id) == 1
    assert rows_of(admin, user.id) == 0
    assert stored_files(tmp_path, user.id) == []


class BrokenStorage(LocalStorage):
    """Local storage whose writes fail after ``ok_puts`` successful ones."""

    def __init__(self, root: Path, ok_puts: int) -> None:
        super().__init__(root)
        self.ok_puts = ok_puts

    def put(self, path: str, data: bytes, content_type: str) -> None:
        if self.ok_puts <= 0:
            raise StorageFailed("disk full")
        self.ok_puts -= 1
        super().put(path, data, content_type)


@pytest.mark.parametrize("ok_puts", [0, 1])
def test_storage_failure_refunds_and_removes_the_written_part(
    admin: Any, signed_in: SignIn, tmp_path: Path, ok_puts: int
) -> None:
    from genvault._flow import Generator
    from genvault._generations import GenerationsRepo

    with signed_in(credits=1) as (user, gv):
        transport, _, user_id = gv._user()
        storage = BrokenStorage(tmp_path / "images", ok_puts)
        gen = Generator(transport, storage, GenerationsRepo(transport, storage), user_id=user_id)
        with pytest.raises(StorageFailed):
            gen.create(ScriptedModel(), "a harbour at dawn")
    assert balance(admin, user.id) == 1
    assert rows_of(admin, user.id) == 0
    assert stored_files(tmp_path, user.id) == []


def test_insert_failure_refunds_and_removes_files(
    admin: Any, signed_in: SignIn, tmp_path: Path
) -> None:
    """The database refuses the row (a path outside the user's folder): all undone."""
    from genvault._flow import Generator
    from genvault._generations import GenerationsRepo

    class WrongFolder(LocalStorage):
        def key_for(self, user_id: str, generation_id: str, data: bytes, suffix: str) -> str:
            return super().key_for("someone-else", generation_id, data, suffix)

    with signed_in(credits=1) as (user, gv):
        transport, _, user_id = gv._user()
        storage = WrongFolder(tmp_path / "images")
        gen = Generator(transport, storage, GenerationsRepo(transport, storage), user_id=user_id)
        with pytest.raises(InvalidInput):
            gen.create(ScriptedModel(), "a quiet street")
    assert balance(admin, user.id) == 1
    assert rows_of(admin, user.id) == 0
    assert not (tmp_path / "images" / "someone-else").exists() or not any(
        (tmp_path / "images" / "someone-else").iterdir()
    )


def test_no_credits_refuses_before_the_model_runs(signed_in: SignIn) -> None:
    model = ScriptedModel()
    with signed_in(credits=0) as (_, gv), pytest.raises(InsufficientCredits):
        gv.create("anything", model=model)
    assert model.calls == 0


def test_invalid_input_refuses_before_reserving(admin: Any, signed_in: SignIn) -> None:
    with signed_in(credits=1) as (user, gv):
        for bad in ["", "   ", "x" * 2001, "a\x00b", "evil \u202e txt"]:
            with pytest.raises(InvalidInput):
                gv.create(bad, model=ScriptedModel())
        with pytest.raises(InvalidInput, match="aspect ratio"):
            gv.create("ok", model=ScriptedModel(), aspect_ratio="7:3")
    assert balance(admin, user.id) == 1
    assert ledger_sum(admin, user.id) == 1


def test_a_retried_idempotency_key_never_charges_twice(admin: Any, signed_in: SignIn) -> None:
    with signed_in(credits=5) as (user, gv):
        first = gv.create("a kite", model=ScriptedModel(), idempotency_key="req-1")
        again = gv.create("a kite", model=ScriptedModel(), idempotency_key="req-1")
    assert again.id == first.id
    assert balance(admin, user.id) == 4
    assert rows_of(admin, user.id) == 1


def test_a_refunded_key_is_not_reused(signed_in: SignIn) -> None:
    with signed_in(credits=5) as (_, gv):
        with pytest.raises(ModelFailed):
            gv.create("a kite", model=failing_model(), idempotency_key="req-2")
        with pytest.raises(Conflict):
            gv.create("a kite", model=ScriptedModel(), idempotency_key="req-2")


def test_crash_between_reserve_and_insert_is_cleaned_by_the_sweep(
    admin: Any, client_of: ClientOf, make_user: Any, tmp_path: Path
) -> None:
    """A process that stored the image and died before the insert: the sweep refunds the
    credit and removes the orphaned files; a saved image is never touched."""
    user = make_user(credits=3)

    class Died(BaseException):
        pass

    with client_of(user) as gv:
        kept = gv.create("keep me", model=ScriptedModel())
        transport, storage, user_id = gv._user()

        # Simulate death right before record_generation: no undo runs.
        real_rpc = transport.rpc

        def dying_rpc(fn: str, args: Any, *, scalar: bool = False) -> Any:
            if fn == "record_generation":
                raise Died
            return real_rpc(fn, args, scalar=scalar)

        from genvault._flow import Generator
        from genvault._generations import GenerationsRepo

        gen = Generator(transport, storage, GenerationsRepo(transport, storage), user_id=user_id)
        gen._undo = lambda *a: None  # type: ignore[method-assign]  # a killed process undoes nothing
        transport.rpc = dying_rpc  # type: ignore[method-assign]
        with pytest.raises(Died):
            gen.create(ScriptedModel(data=png_bytes((1, 2, 3))), "lost")
        transport.rpc = real_rpc  # type: ignore[method-assign]

        assert balance(admin, user.id) == 1  # one spent, one held by the dead process
        assert len(stored_files(tmp_path, user.id)) == 4
        result = gv.sweep(older_than=timedelta(0))
        assert result.refunded == 1
        assert result.files_removed == 2
        assert balance(admin, user.id) == 2
        assert ledger_sum(admin, user.id) == 2
        assert gv.generations.read_image(kept)[:4] == b"RIFF"
    assert len(stored_files(tmp_path, user.id)) == 2


def test_concurrent_creates_never_overspend(
    admin: Any, client_of: ClientOf, make_user: Any
) -> None:
    user = make_user(credits=4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with client_of(user) as gv:
            try:
                gv.create(f"image {i}", model=ScriptedModel())
                result = "ok"
            except InsufficientCredits:
                result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 4
    assert outcomes.count("refused") == 6
    assert balance(admin, user.id) == 0
    assert ledger_sum(admin, user.id) == 0
    assert rows_of(admin, user.id) == 4
