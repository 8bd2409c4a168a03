"""Only a valid token of a signed-in user acts as that user. Expired, not yet valid,
wrongly signed, unsigned, forged operator and malformed tokens are refused with a
clear error before any SQL runs; a deleted user's valid token sees nothing.

"No SQL ran" is shown directly: on the direct transport the client never opened its
connection pool; on the hosted transport the project double never opened its
database connection (it answers 401 first). Either way the books of the user the
token names are compared, file hashes included, before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from genvault import Client
from genvault._exceptions import (
    GenvaultError,
    InsufficientCredits,
    NotFound,
    NotSignedIn,
    SessionExpired,
)
from tests.support.library import ScriptedModel, client_for, settings_for
from tests.support.reliability import Evidence, HostedProject, snapshot, tiny_png
from tests.support.users import TEST_JWT_SECRET, User, create_user

WRONG_KEY = "a-wrong-secret-that-is-long-enough-for-hs256-1111111"


def claims(user: User, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": user.id,
        "role": "authenticated",
        "aud": "authenticated",
        "email": user.email,
        "iat": now,
        "exp": now + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def es256(payload: dict[str, Any]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": "not-a-project-key"})


# name -> (token for a user, the error, whether the hosted double still runs SQL for it)
BAD_TOKENS: dict[str, tuple[Callable[[User], str], type[GenvaultError], bool]] = {
    "expired": (
        lambda u: jwt.encode(claims(u, exp=int(time.time()) - 30), TEST_JWT_SECRET),
        SessionExpired,
        False,
    ),
    "not yet valid": (
        lambda u: jwt.encode(claims(u, nbf=int(time.time()) + 600), TEST_JWT_SECRET),
        NotSignedIn,
        False,
    ),
    "wrong signature": (lambda u: jwt.encode(claims(u), WRONG_KEY), NotSignedIn, False),
    "alg none": (lambda u: jwt.encode(claims(u), None, algorithm="none"), NotSignedIn, False),
    "service_role forged with a wrong key": (
        lambda u: jwt.encode(claims(u, role="service_role"), WRONG_KEY),
        NotSignedIn,
        False,
    ),
    "signed by an unknown ES256 key": (lambda u: es256(claims(u)), NotSignedIn, False),
    "missing sub": (lambda u: jwt.encode(claims(u, sub=None), TEST_JWT_SECRET), NotSignedIn, True),
}
DIRECT_ONLY: dict[str, tuple[Callable[[User], str], type[GenvaultError], bool]] = {
    # PostgREST runs these as the role they name (or ignores aud); only a project key
    # can sign them, so they are not forgeries. The direct transport refuses them.
    "service_role signed with the project key": (
        lambda u: jwt.encode(claims(u, role="service_role"), TEST_JWT_SECRET),
        NotSignedIn,
        False,
    ),
    "missing role": (
        lambda u: jwt.encode(claims(u, role=None), TEST_JWT_SECRET),
        NotSignedIn,
        False,
    ),
    "wrong audience": (
        lambda u: jwt.encode(claims(u, aud="anon"), TEST_JWT_SECRET),
        NotSignedIn,
        False,
    ),
    "sub not a user id": (
        lambda u: jwt.encode(claims(u, sub="postgres"), TEST_JWT_SECRET),
        NotSignedIn,
        False,
    ),
}


def operations(dest: Path, generation_id: str) -> dict[str, Callable[[Client], Any]]:
    """Every way the library acts as the signed-in user."""
    return {
        "list": lambda c: c.generations.list(),
        "search": lambda c: c.generations.search("fox"),
        "get": lambda c: c.generations.get(generation_id),
        "delete": lambda c: c.generations.delete([generation_id]),
        "download": lambda c: c.generations.download(generation_id, dest),
        "create": lambda c: c.create("a fox", model=ScriptedModel(data=tiny_png())),
        "save": lambda c: c.save("a fox", tiny_png()),
        "balance": lambda c: c.credits.balance(),
        "ledger": lambda c: c.credits.ledger(),
        "stats": lambda c: c.generations.stats(),
        "export": lambda c: c.export(dest / "export"),
        "sweep": lambda c: c.sweep(),
        "reserve": lambda c: c._user()[0].rpc("reserve_credit", {"idempotency_key": "k"}),
        "delete account": lambda c: c.delete_account(),
    }


class Backend:
    """One transport, with the user whose token is tampered with and one saved image."""

    def __init__(self, name: str, database_url: str, home: Path, admin: Any) -> None:
        self.name = name
        self.admin = admin
        self.project = HostedProject(database_url, home) if name == "hosted" else None
        self.settings = settings_for(database_url, home)
        self.home = home
        self.user = create_user(admin, credits=3)
        with self.client(self.user.token()) as gv:
            self.generation = gv.create("a fox in snow", model=ScriptedModel(data=tiny_png()))

    def client(self, token: str) -> Client:
        if self.project is not None:
            return self.project.client(token)
        return Client(self.settings, access_token=token)

    def read(self, user_id: str) -> dict[str, bytes]:
        if self.project is not None:
            return self.project.read(user_id)
        folder = self.home / "images" / user_id
        return {f"{user_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}

    def no_sql_ran(self, client: Client) -> bool:
        if self.project is not None:
            return self.project.double._db is None
        return client._pool is None

    def close(self) -> None:
        if self.project is not None:
            self.project.close()


@pytest.fixture(params=["direct", "hosted"])
def backend(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
) -> Iterator[Backend]:
    made = Backend(request.param, database_url, tmp_path / "vault", admin)
    yield made
    made.close()


def refusals(backend: Backend, kinds: dict[str, Any], evidence: Evidence) -> list[str]:
    """Try every operation with every kind of token; describe each that was not refused
    with the expected error and without SQL."""
    failures = []
    for kind, (make, expected, runs_sql_hosted) in kinds.items():
        for op, call in operations(backend.home / "out", backend.generation.id).items():
            # A new project double per attempt, so that "it opened no connection" means
            # this attempt ran no SQL.
            if backend.project is not None:
                backend.project.double.close()
            client = backend.client(make(backend.user))
            try:
                call(client)
            except GenvaultError as exc:
                if type(exc) is not expected:
                    failures.append(f"{kind} / {op}: {type(exc).__name__}: {exc}")
            except Exception as exc:
                failures.append(f"{kind} / {op}: not a genvault error: {exc!r}")
            else:
                failures.append(f"{kind} / {op}: was not refused")
            finally:
                client.close()
            if not (runs_sql_hosted and backend.name == "hosted") and not backend.no_sql_ran(
                client
            ):
                failures.append(f"{kind} / {op}: SQL ran")
            evidence.add("token x operation attempts")
    return failures


def test_bad_tokens_are_refused_before_any_sql(backend: Backend, evidence: Evidence) -> None:
    """Every library operation, from list to account deletion, with each kind of bad
    token: expired, not yet valid, wrong signature, alg=none, service_role forged with a
    wrong key, an unknown ES256 key, missing sub (and on the direct transport also a
    service_role, role-less, wrong-audience or non-uuid-subject token signed with the
    project key): the right error, no SQL, the user's books unchanged."""
    kinds = dict(BAD_TOKENS)
    if backend.name == "direct":
        kinds.update(DIRECT_ONLY)
    before = snapshot(backend.admin, backend.user.id, backend.read)
    failures = refusals(backend, kinds, evidence)
    assert snapshot(backend.admin, backend.user.id, backend.read) == before
    assert not failures, "\n".join(failures)


def test_a_malformed_access_token_is_not_signed_in(backend: Backend, evidence: Evidence) -> None:
    """An access token that is not a JWT at all ("not.a.jwt") given to the client: every
    operation is NotSignedIn ("the access token is malformed"), not a decoding error of
    the JWT library, and nothing is sent."""
    before = snapshot(backend.admin, backend.user.id, backend.read)
    kinds = {"not a JWT": (lambda u: "not.a.jwt", NotSignedIn, False)}
    failures = refusals(backend, kinds, evidence)
    assert snapshot(backend.admin, backend.user.id, backend.read) == before
    assert not failures, "\n".join(failures)


@pytest.fixture
def ghost(backend: Backend, admin: psycopg.Connection[Any]) -> tuple[User, str]:
    """A user with history whose account was then deleted (as Supabase Auth deletes one):
    their token is still validly signed until it expires."""
    user = create_user(admin, credits=3)
    with backend.client(user.token()) as gv:
        made = gv.create("a fox that will be forgotten", model=ScriptedModel(data=tiny_png()))
    admin.execute("delete from auth.users where id = %s", (user.id,))
    return user, made.id


def assert_nothing_of(admin: psycopg.Connection[Any], user_id: str) -> None:
    for table in ("public.user_generations", "public.credit_ledger", "public.user_credits"):
        row = admin.execute(
            f"select count(*)::int as n from {table} where user_id = %s", (user_id,)
        ).fetchone()
        assert row is not None
        assert row["n"] == 0, f"{table} has rows of the deleted user"


def test_a_deleted_users_token_sees_nothing(
    backend: Backend, ghost: tuple[User, str], admin: psycopg.Connection[Any], evidence: Evidence
) -> None:
    """A deleted user's token (valid signature, user gone) runs as that id and so sees
    nothing: empty history and search, the old id not found, balance 0, empty ledger,
    zero stats, an empty export, deletes that delete nothing. Nothing of the id
    reappears in any table."""
    user, old_id = ghost
    with backend.client(user.token()) as gv:
        assert gv.generations.list().items == []
        assert gv.generations.search("fox").items == []
        with pytest.raises(NotFound):
            gv.generations.get(old_id)
        assert [o.deleted for o in gv.generations.delete([old_id])] == [False]
        assert gv.credits.balance() == 0
        assert gv.credits.ledger() == []
        assert gv.generations.stats()["total"] == 0
        assert gv.export(backend.home / "ghost-export").images == 0
    evidence.add("reads by a deleted user's token", 8)
    assert_nothing_of(admin, user.id)


@pytest.mark.parametrize("how", ["create", "reserve"])
def test_a_deleted_user_cannot_spend_and_gets_a_clear_error(
    backend: Backend,
    ghost: tuple[User, str],
    admin: psycopg.Connection[Any],
    evidence: Evidence,
    how: str,
) -> None:
    """A deleted user's token asking for a credit (a create, or the raw reservation) is
    refused with a clear NotSignedIn or InsufficientCredits, not a database constraint
    message, and leaves no row or ledger entry behind."""
    user, _ = ghost
    evidence.add("spend attempts by a deleted user's token")
    with backend.client(user.token()) as gv:
        spend: Callable[[], Any] = (
            (lambda: gv.create("a fox", model=ScriptedModel(data=tiny_png())))
            if how == "create"
            else (
                lambda: gv._user()[0].rpc(
                    "reserve_credit",
                    {"idempotency_key": "ghost"},
                )
            )
        )
        with pytest.raises(GenvaultError) as info:
            spend()
    assert_nothing_of(admin, user.id)
    assert isinstance(info.value, NotSignedIn | InsufficientCredits), repr(info.value)
    assert "foreign key" not in str(info.value)


def test_a_token_that_expires_between_calls_is_refused_from_then_on(
    make_user: Any, database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """A client holding a token that expires while it is in use: calls before the expiry
    work, every call after it is SessionExpired (the pool being open already changes
    nothing), and the refused calls leave the balance as it was."""
    user = make_user(credits=2)
    token = jwt.encode(claims(user, exp=int(time.time()) + 2), TEST_JWT_SECRET)
    with Client(settings_for(database_url, tmp_path), access_token=token) as gv:
        assert gv.credits.balance() == 2
        time.sleep(2.5)
        for call in (
            lambda: gv.credits.balance(),
            lambda: gv.create("late", model=ScriptedModel(data=tiny_png())),
            lambda: gv.sweep(older_than=timedelta(0)),
        ):
            with pytest.raises(SessionExpired):
                call()
            evidence.add("calls after expiry")
    with client_for(user, database_url, tmp_path) as fresh:
        assert fresh.credits.balance() == 2
