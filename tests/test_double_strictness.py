"""The Supabase double is as strict as the services it stands in for.

Each test shows the double refusing or cutting what PostgREST or Storage would,
from the database's own rules rather than rules written again in Python: the
storage policies decide what Storage lets a user do (a broken policy changes
what the double allows), a set is cut at db-max-rows, a STABLE function runs
read-only, a role's statement timeout applies, and Storage's errors have the
shape it sends today.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from genvault import GenvaultError, NotFound, SessionExpired, StorageFailed, TimedOut
from genvault._exceptions import error_from_code
from genvault._hosted import HostedTransport, SupabaseStorage
from genvault._migrate import migrate
from genvault._transport import DirectTransport
from tests.support.database import scratch_database
from tests.support.hosted import HostedBackend, user_storage, user_transport, webp


@pytest.fixture(scope="module")
def scratch_url(server_url: str) -> Iterator[str]:
    """A migrated database of its own: these tests change policies and functions."""
    with scratch_database(server_url, prefix="gv_double_strict") as url:
        migrate(url)
        yield url


@pytest.fixture
def backend(scratch_url: str, tmp_path: Path) -> Iterator[HostedBackend]:
    hosted = HostedBackend(tmp_path, scratch_url)
    yield hosted
    hosted.close()


@pytest.fixture
def owner(scratch_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        yield conn


def test_the_doubles_storage_follows_the_policies_in_the_database(
    backend: HostedBackend, owner: psycopg.Connection[Any]
) -> None:
    """Dropping the upload policy stops uploads; opening the read policy to everyone
    lets a stranger read the file: the double asks the policies, it has none of its own."""
    me, _ = user_transport(backend)
    them, _ = user_transport(backend)
    mine, theirs = user_storage(backend, me), user_storage(backend, them)
    path = f"{me.user_id}/{uuid.uuid4()}.webp"
    mine.put(path, webp(), "image/webp")
    with pytest.raises(NotFound):
        theirs.get(path)

    select = "Users can view their own generation files"
    insert = "Users can upload their own generation files"
    definition = owner.execute(
        "select pg_get_expr(polqual, polrelid) from pg_policy where polname = %s", (select,)
    ).fetchone()
    assert definition is not None
    try:
        owner.execute(f'alter policy "{select}" on storage.objects using (true)')
        assert theirs.get(path) == webp()
        owner.execute(f'drop policy "{insert}" on storage.objects')
        with pytest.raises(StorageFailed, match="row-level security"):
            mine.put(f"{me.user_id}/{uuid.uuid4()}.webp", webp(), "image/webp")
    finally:
        owner.execute(f'alter policy "{select}" on storage.objects using ({definition[0]})')
        owner.execute(
            f'create policy "{insert}" on storage.objects for insert to authenticated'
            " with check (bucket_id = 'generations'"
            " and (storage.foldername(name))[1] = (select auth.uid()::text))"
        )
    with pytest.raises(NotFound):
        theirs.get(path)
    mine.put(f"{me.user_id}/{uuid.uuid4()}.webp", webp(), "image/webp")


def _storage_call(
    backend: HostedBackend, method: str, path: str, token: str, **kwargs: Any
) -> httpx.Response:
    return backend.http.request(
        method,
        f"{backend.settings.supabase_url}/storage/v1/{path}",
        headers={"apikey": str(backend.settings.supabase_key), "Authorization": f"Bearer {token}"},
        **kwargs,
    )


def test_storage_errors_have_storages_current_shape(backend: HostedBackend) -> None:
    """HTTP 400 below 500, the error's own status as a string in statusCode, its code,
    the older error name and the message; an expired token says what Storage says."""
    me, _ = user_transport(backend)
    assert me.access_token is not None
    double = backend.double
    missing = _storage_call(
        backend, "GET", f"object/authenticated/generations/{me.user_id}/nope.webp", me.access_token
    )
    assert (missing.status_code, missing.json()) == (
        400,
        {
            "statusCode": "404",
            "code": "NoSuchKey",
            "error": "not_found",
            "message": "Object not found",
        },
    )
    expired = double.mint_access_token(me.user_id, ttl=-60)
    refused = _storage_call(
        backend, "GET", f"object/authenticated/generations/{me.user_id}/a.webp", expired
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "statusCode": "403",
            "code": "AccessDenied",
            "error": "Unauthorized",
            "message": '"exp" claim timestamp check failed',
        },
    )
    with pytest.raises(SessionExpired):
        SupabaseStorage(backend.client(), expired, "generations").list(me.user_id)

    path = f"{me.user_id}/{uuid.uuid4()}.webp"
    user_storage(backend, me).put(path, webp(), "image/webp")
    signed = _storage_call(
        backend, "POST", f"object/sign/generations/{path}", me.access_token, json={"expiresIn": 1}
    )
    url = signed.json()["signedURL"]
    token = url.split("token=")[1]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==").decode())
    assert claims["scope"] == "download"
    late = jwt.encode({**claims, "exp": claims["iat"] - 10}, double.jwt_secret, algorithm="HS256")
    gone = backend.http.get(
        f"{backend.settings.supabase_url}/storage/v1{url.split('?')[0]}", params={"token": late}
    )
    assert (gone.status_code, gone.json()["code"], gone.json()["statusCode"]) == (
        400,
        "InvalidJWT",
        "400",
    )
    assert gone.json()["message"] == '"exp" claim timestamp check failed'


def test_a_set_is_cut_at_max_rows_without_a_word(
    backend: HostedBackend, owner: psycopg.Connection[Any]
) -> None:
    """Asked for 5 rows of 6, a double with db-max-rows 3 answers 3, as PostgREST would."""
    me, transport = user_transport(backend)
    for i in range(6):
        owner.execute(
            "insert into public.user_generations (user_id, prompt, image_url) values (%s, %s, %s)",
            (me.user_id, f"p{i}", f"{me.user_id}/{i}.png"),
        )
    assert len(transport.rpc("list_generations", {"page_size": 5})) == 5
    backend.double.max_rows = 3
    assert len(transport.rpc("list_generations", {"page_size": 5})) == 3


@pytest.fixture
def probes(owner: psycopg.Connection[Any]) -> Iterator[None]:
    """A stable function that writes through a volatile one, and a slow one."""
    owner.execute(
        """
        create table public.probe_visits (at timestamptz default now());
        alter table public.probe_visits enable row level security;
        create policy probe_all on public.probe_visits for all to anon, authenticated
          using (true) with check (true);
        create function public.probe_note() returns integer language sql volatile
          as $$ insert into public.probe_visits default values returning 1 $$;
        create function public.probe_peek() returns integer language sql stable
          as $$ select public.probe_note() $$;
        create function public.probe_slow(seconds double precision) returns integer
          language sql volatile as $$ select 1 from pg_sleep(seconds) $$;
        """
    )
    yield
    owner.execute(
        "drop function public.probe_peek(), public.probe_note(),"
        " public.probe_slow(double precision); drop table public.probe_visits"
    )


@pytest.mark.usefixtures("probes")
def test_a_stable_function_runs_read_only_and_a_volatile_one_may_write(
    backend: HostedBackend, owner: psycopg.Connection[Any]
) -> None:
    _, transport = user_transport(backend)
    assert transport.rpc("probe_note", {}, scalar=True) == 1
    with pytest.raises(GenvaultError) as caught:
        transport.rpc("probe_peek", {}, scalar=True)
    assert caught.value.code == "25006"
    assert owner.execute("select count(*) from public.probe_visits").fetchone() == (1,)


@pytest.mark.usefixtures("probes")
def test_the_roles_statement_timeout_applies_and_says_what_to_do(
    backend: HostedBackend, owner: psycopg.Connection[Any], scratch_url: str
) -> None:
    """anon's 3 s on the hosted path (set by the API, not by SET ROLE), and a
    database's own limit on the direct path: both are TimedOut with a hint."""
    visitor = HostedTransport.anonymous(backend.client())
    assert visitor.rpc("probe_slow", {"seconds": 0.1}, scalar=True) == 1
    with pytest.raises(TimedOut) as hosted:
        visitor.rpc("probe_slow", {"seconds": 4}, scalar=True)
    assert hosted.value.code == "57014"
    assert "try again" in str(hosted.value.hint)

    with ConnectionPool(
        scratch_url, min_size=1, max_size=1, kwargs={"options": "-c statement_timeout=500"}
    ) as pool:
        direct = DirectTransport(pool, role="anon", claims={"role": "anon"})
        with pytest.raises(TimedOut) as local:
            direct.rpc("probe_slow", {"seconds": 2}, scalar=True)
    assert "statement timeout" in str(local.value)
    assert isinstance(error_from_code("57014", "x"), TimedOut)
