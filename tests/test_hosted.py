"""The hosted backend: PostgREST calls, Storage files and Auth sessions over HTTP.

These run against the Supabase double (tests/support/supabase_double.py), whose REST
side runs the real SQL functions in the test database as the token's user, or
against a real project when tests/support/hosted.py finds one configured.
Every test checks what went over the wire as well as what came back.
"""

from __future__ import annotations

import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from supabase_auth import SyncGoTrueClient

from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    SessionExpired,
    StorageFailed,
)
from genvault._hosted import HostedAuth, HostedTransport, SupabaseStorage, make_supabase_client
from genvault._session import Session, SessionStore
from genvault._settings import Settings
from tests.support.hosted import (
    PROJECT,
    HostedBackend,
    json_body,
    user_storage,
    user_transport,
    webp,
)
from tests.support.supabase_double import ProtocolViolation, SupabaseDouble
from tests.support.users import TEST_JWT_SECRET


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostedBackend]:
    """The project under test; the double needs the migrated test database."""
    database_url = None if PROJECT is not None else request.getfixturevalue("database_url")
    hosted = HostedBackend(tmp_path, database_url)
    yield hosted
    hosted.close()


@pytest.fixture
def double(backend: HostedBackend) -> SupabaseDouble:
    """The double behind ``backend``: tests that use it are skipped on a real project."""
    return backend.double


def record_generation(transport: HostedTransport, user_id: str) -> dict[str, Any]:
    """A finished generation of the transport's user, made the way the library makes one."""
    [reservation] = transport.rpc("reserve_credit", {"idempotency_key": uuid.uuid4().hex})
    generation_id = reservation["reserved_for"]
    [row] = transport.rpc(
        "record_generation",
        {
            "reservation_id": reservation["reservation_id"],
            "prompt": "a lighthouse in fog",
            "image_url": f"{user_id}/{generation_id}.webp",
            "model": "test/model",
            "params": {"seed": 7},
        },
    )
    assert isinstance(row, dict)
    return row


def file_part(request: httpx.Request) -> tuple[str, bytes]:
    """The content type and bytes of the ``file`` part of a recorded upload."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return part.get("Content-Type", ""), payload
    raise AssertionError("no file part in the upload")


# -- the client and its HTTP connection ----------------------------------------------


def test_every_service_goes_through_the_given_http_client(backend: HostedBackend) -> None:
    session, transport = user_transport(backend)
    transport.rpc("my_stats", {}, scalar=True)
    user_storage(backend, session).exists(f"{session.user_id}/nothing.webp")

    client = backend.client()
    assert client.postgrest.session is backend.http
    assert client.storage.session is backend.http

    paths = [r.url.path for r in backend.requests]
    assert paths[0] == "/auth/v1/token"
    assert "/rest/v1/rpc/my_stats" in paths
    assert any(p.startswith("/storage/v1/object/info/") for p in paths)
    if backend.is_double:
        assert len(backend.double.requests) == len(backend.requests)


def test_the_public_key_must_not_be_a_secret_key(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, supabase_url="https://x.supabase.test", supabase_key="sb_secret_abc"
    )
    with pytest.raises(ConfigError, match="secret"):
        make_supabase_client(settings)
    with pytest.raises(ConfigError, match="SUPABASE_URL"):
        make_supabase_client(Settings(home=tmp_path))


# -- PostgREST -------------------------------------------------------------------------


def test_rpc_carries_the_users_token_and_the_public_key(backend: HostedBackend) -> None:
    session, transport = user_transport(backend)
    rows = transport.rpc("list_generations", {"page_size": 5})
    assert {row["user_id"] for row in rows} <= {session.user_id}

    [call] = backend.sent("POST", "/rest/v1/rpc/")
    assert call.url.path == "/rest/v1/rpc/list_generations"
    assert call.url.query == b""
    assert call.headers["apikey"] == backend.settings.supabase_key
    assert call.headers["authorization"] == f"Bearer {session.access_token}"
    assert call.headers["content-type"] == "application/json"
    assert json_body(call) == {"page_size": 5}


def test_rpc_sends_uuids_and_times_as_json_strings(backend: HostedBackend) -> None:
    _, transport = user_transport(backend)
    before = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    marker = uuid.uuid4()
    transport.rpc(
        "list_generations", {"page_size": 2, "before_created_at": before, "before_id": marker}
    )
    [call] = backend.sent("POST", "/rest/v1/rpc/list_generations")
    assert json_body(call) == {
        "page_size": 2,
        "before_created_at": "2030-01-02T03:04:05+00:00",
        "before_id": str(marker),
    }


def test_row_level_security_keeps_a_generation_to_its_owner(backend: HostedBackend) -> None:
    alice, as_alice = user_transport(backend)
    bob, as_bob = user_transport(backend)
    assert alice.user_id != bob.user_id
    row = record_generation(as_alice, alice.user_id)
    try:
        assert row["user_id"] == alice.user_id
        assert [r["id"] for r in as_alice.rpc("get_generation", {"generation_id": row["id"]})] == [
            row["id"]
        ]
        assert as_bob.rpc("get_generation", {"generation_id": row["id"]}) == []
        assert row["id"] not in [r["id"] for r in as_bob.rpc("list_generations", {})]
        assert as_bob.rpc("search_generations", {"search_text": "lighthouse"}) == []
        assert as_bob.rpc("delete_generations", {"generation_ids": [row["id"]]}) == []
        assert len(as_alice.rpc("get_generation", {"generation_id": row["id"]})) == 1
    finally:
        as_alice.rpc("delete_generations", {"generation_ids": [row["id"]]})

    bob_calls = [
        r
        for r in backend.sent("POST", "/rest/v1/rpc/")
        if r.headers["authorization"] == f"Bearer {bob.access_token}"
    ]
    assert len(bob_calls) == 4


def test_scalar_and_table_results(backend: HostedBackend) -> None:
    session, transport = user_transport(backend)
    stats = transport.rpc("my_stats", {"days": 7}, scalar=True)
    assert isinstance(stats, dict)
    assert {"total", "credits", "per_day"} <= set(stats)

    row = record_generation(transport, session.user_id)
    try:
        stranger = f"{session.user_id}/not-mine.webp"
        # RETURNS TABLE (path text): objects keyed by the column, like the direct transport.
        assert transport.rpc("referenced_paths", {"paths": [row["image_url"], stranger]}) == [
            {"path": row["image_url"]}
        ]
    finally:
        transport.rpc("delete_generations", {"generation_ids": [row["id"]]})

    [held] = transport.rpc("reserve_credit", {"idempotency_key": f"refund-{uuid.uuid4()}"})
    assert transport.rpc("refund_credit", {"reservation_id": held["reservation_id"]}, scalar=True)
    again = transport.rpc("refund_credit", {"reservation_id": held["reservation_id"]}, scalar=True)
    assert again is False


def test_an_empty_balance_is_insufficient_credits(backend: HostedBackend) -> None:
    _, transport = user_transport(backend, credits=0)
    with pytest.raises(InsufficientCredits) as caught:
        transport.rpc("reserve_credit", {"idempotency_key": "k"})
    assert caught.value.code == "GV001"
    assert caught.value.hint == "Your credit balance is 0. Ask an operator for more credits."


def test_an_operator_function_is_permission_denied_to_a_user(backend: HostedBackend) -> None:
    _, transport = user_transport(backend)
    with pytest.raises(PermissionDenied) as caught:
        transport.rpc("admin_storage_estimate", {})
    assert caught.value.code == "42501"


def test_another_users_reservation_is_not_found(backend: HostedBackend) -> None:
    _, transport = user_transport(backend)
    with pytest.raises(NotFound) as caught:
        transport.rpc("refund_credit", {"reservation_id": uuid.uuid4()}, scalar=True)
    assert caught.value.code == "P0002"


def test_bad_arguments_and_unknown_functions_are_invalid_input(backend: HostedBackend) -> None:
    _, transport = user_transport(backend)
    with pytest.raises(InvalidInput, match="page size") as caught:
        transport.rpc("list_generations", {"page_size": 0})
    assert caught.value.code == "22023"
    with pytest.raises(InvalidInput) as unknown:
        transport.rpc("no_such_function", {"x": 1})
    assert unknown.value.code == "PGRST202"


def test_a_forged_token_is_not_signed_in(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    forged = jwt.encode(
        {"sub": session.user_id, "role": "authenticated", "exp": int(time.time()) + 600},
        "not-the-projects-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    with pytest.raises(NotSignedIn) as caught:
        HostedTransport(backend.client(), forged).rpc("list_generations", {})
    assert not isinstance(caught.value, SessionExpired)
    assert caught.value.code == "PGRST301"


@pytest.mark.parametrize(("version", "code"), [(13, "PGRST303"), (12, "PGRST301")])
def test_an_expired_token_is_session_expired(
    backend: HostedBackend, double: SupabaseDouble, version: int, code: str
) -> None:
    double.postgrest_version = 13 if version == 13 else 12
    session, _ = user_transport(backend)
    expired = double.mint_access_token(session.user_id, ttl=-60)
    with pytest.raises(SessionExpired) as caught:
        HostedTransport(backend.client(), expired).rpc("list_generations", {})
    assert caught.value.code == code
    assert caught.value.hint is not None
    assert "sign in again" in caught.value.hint


def test_a_wrong_api_key_is_a_configuration_error(backend: HostedBackend, tmp_path: Path) -> None:
    session, _ = user_transport(backend)
    assert session.access_token is not None
    settings = Settings(
        home=tmp_path,
        supabase_url=backend.settings.supabase_url,
        supabase_key="sb_publishable_not_this_projects_key",
    )
    client = make_supabase_client(settings, http_client=backend.http)
    with pytest.raises(ConfigError, match="API key"):
        HostedTransport(client, session.access_token).rpc("list_generations", {})


def test_a_gateway_error_page_is_backend_unreachable(tmp_path: Path) -> None:
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(502, text="<html>Bad gateway"))
    )
    settings = Settings(
        home=tmp_path, supabase_url="https://x.supabase.test", supabase_key="sb_publishable_x"
    )
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    transport = HostedTransport(make_supabase_client(settings, http_client=http), token)
    with pytest.raises(BackendUnreachable):
        transport.rpc("list_generations", {})


def test_the_public_key_is_not_a_users_token(backend: HostedBackend) -> None:
    client = backend.client()
    with pytest.raises(NotSignedIn, match="public API key"):
        HostedTransport(client, client.supabase_key)
    with pytest.raises(NotSignedIn, match="public API key"):
        SupabaseStorage(client, client.supabase_key, backend.settings.bucket)
    with pytest.raises(NotSignedIn, match="malformed"):
        HostedTransport(client, "not-a-token")
    assert backend.requests == []


def test_function_names_are_checked_before_sending(backend: HostedBackend) -> None:
    _, transport = user_transport(backend)
    sent = len(backend.requests)
    with pytest.raises(ValueError, match="function name"):
        transport.rpc("../storage/v1/object", {})
    assert len(backend.requests) == sent


def test_no_network_is_backend_unreachable(backend: HostedBackend, double: SupabaseDouble) -> None:
    session, transport = user_transport(backend)
    double.offline = True
    with pytest.raises(BackendUnreachable):
        transport.rpc("list_generations", {})
    with pytest.raises(BackendUnreachable):
        user_storage(backend, session).get(f"{session.user_id}/x.webp")
    with pytest.raises(BackendUnreachable):
        HostedAuth(backend.client(), backend.store()).sign_in_password("a@b.test", "pw")


def test_the_service_transport_sends_the_secret_key_as_apikey_only(
    backend: HostedBackend,
) -> None:
    rows = HostedTransport.service(backend.client(service=True)).rpc("admin_storage_estimate", {})
    assert isinstance(rows, list)

    [call] = backend.sent("POST", "/rest/v1/rpc/admin_storage_estimate")
    assert call.headers["apikey"] == backend.service_key
    if backend.service_key and backend.service_key.startswith("eyJ"):
        assert call.headers["authorization"] == f"Bearer {backend.service_key}"
    else:
        assert "authorization" not in call.headers


def test_legacy_jwt_keys_work_too(database_url: str, tmp_path: Path) -> None:
    """Projects on the legacy anon and service_role keys (both JWTs)."""
    anon = jwt.encode({"role": "anon", "iss": "supabase"}, TEST_JWT_SECRET, algorithm="HS256")
    service = jwt.encode(
        {"role": "service_role", "iss": "supabase"}, TEST_JWT_SECRET, algorithm="HS256"
    )
    double = SupabaseDouble(
        jwt_secret=TEST_JWT_SECRET,
        database_url=database_url,
        public_key=anon,
        service_key=service,
    )
    http = httpx.Client(transport=double.transport())
    settings = Settings(
        home=tmp_path,
        supabase_url=double.url,
        supabase_key=anon,
        supabase_service_key=service,
    )
    try:
        user = double.add_user(f"legacy-{uuid.uuid4().hex[:8]}@example.test", "pw-legacy")
        client = make_supabase_client(settings, http_client=http)
        session = HostedAuth(client, SessionStore(tmp_path / "s.json")).sign_in_password(
            user.email, "pw-legacy"
        )
        assert session.access_token is not None
        assert HostedTransport(client, session.access_token).rpc("list_generations", {}) == []

        operator = make_supabase_client(settings, http_client=http, key=service)
        HostedTransport.service(operator).rpc("admin_storage_estimate", {})
        call = double.requests[-1]
        assert call.headers["apikey"] == service
        assert call.headers["authorization"] == f"Bearer {service}"
        with pytest.raises(ConfigError, match="service role key"):
            HostedTransport.service(client)
        with pytest.raises(NotSignedIn, match="public API key"):
            HostedTransport(client, anon)
    finally:
        http.close()
        double.close()
    assert double.violations == []


# -- Storage ---------------------------------------------------------------------------


def test_storage_round_trip(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    storage = user_storage(backend, session)
    generation_id = str(uuid.uuid4())
    path = storage.key_for(session.user_id, generation_id, b"", ".webp")
    assert path == f"{session.user_id}/{generation_id}.webp"
    image = webp()

    storage.put(path, image, "image/webp")
    try:
        assert storage.exists(path)
        assert storage.get(path) == image
        listed = {o.path: o for o in storage.list(session.user_id)}
        assert listed[path].size == len(image)
        assert listed[path].modified > 0

        url = storage.url(path, expires_in=60)
        assert url.startswith(f"{backend.settings.supabase_url}/storage/v1/object/sign/")
        assert "token=" in url
        fetched = backend.http.get(url)
        assert fetched.status_code == 200
        assert fetched.content == image
    finally:
        storage.delete([path])
    assert not storage.exists(path)
    with pytest.raises(NotFound, match="missing"):
        storage.get(path)

    [upload] = backend.sent("POST", f"/storage/v1/object/{backend.settings.bucket}/")
    assert upload.url.path == f"/storage/v1/object/{backend.settings.bucket}/{path}"
    assert upload.headers["x-upsert"] == "true"
    assert file_part(upload) == ("image/webp", image)
    storage_calls = [r for r in backend.requests if r.url.path.startswith("/storage/v1/")]
    signed_fetch = [r for r in storage_calls if r.method == "GET" and "/object/sign/" in r.url.path]
    assert len(signed_fetch) == 1
    for call in storage_calls:
        if call not in signed_fetch:
            assert call.headers["authorization"] == f"Bearer {session.access_token}"
            assert call.headers["apikey"] == backend.settings.supabase_key
    [remove] = backend.sent("DELETE", "/storage/v1/object/")
    assert json_body(remove) == {"prefixes": [path]}


def test_put_overwrites_the_same_path(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    storage = user_storage(backend, session)
    path = f"{session.user_id}/{uuid.uuid4()}.webp"
    storage.put(path, webp((1, 2, 3)), "image/webp")
    try:
        second = webp((200, 10, 10))
        storage.put(path, second, "image/webp")
        assert storage.get(path) == second
    finally:
        storage.delete([path])


def test_storage_keeps_files_in_their_owners_folder(backend: HostedBackend) -> None:
    alice, _ = user_transport(backend)
    bob, _ = user_transport(backend)
    as_alice, as_bob = user_storage(backend, alice), user_storage(backend, bob)
    bobs = f"{bob.user_id}/{uuid.uuid4()}.webp"

    with pytest.raises(StorageFailed, match="refused") as caught:
        as_alice.put(bobs, webp(), "image/webp")
    assert caught.value.code == "403"
    assert caught.value.hint is not None
    assert "own user id" in caught.value.hint

    as_bob.put(bobs, webp(), "image/webp")
    try:
        assert not as_alice.exists(bobs)
        with pytest.raises(NotFound):
            as_alice.get(bobs)
        with pytest.raises(NotFound):
            as_alice.url(bobs)
        assert as_alice.list(bob.user_id) == []
        as_alice.delete([bobs])
        assert as_bob.exists(bobs)
    finally:
        as_bob.delete([bobs])


def test_listing_pages_through_a_folder(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    storage = user_storage(backend, session, list_page_size=2)
    paths = sorted(f"{session.user_id}/{uuid.uuid4()}.webp" for _ in range(5))
    for path in paths:
        storage.put(path, webp(), "image/webp")
    try:
        listed = [o.path for o in storage.list(session.user_id)]
        assert set(paths) <= set(listed)
        assert len(listed) == len(set(listed))
        pages = [json_body(r) for r in backend.sent("POST", "/storage/v1/object/list/")]
        assert [(p["prefix"], p["limit"], p["offset"]) for p in pages] == [
            (session.user_id, 2, offset) for offset in range(0, 2 * len(pages), 2)
        ]
        if backend.is_double:  # the folder holds exactly these five files
            assert sorted(listed) == paths
            assert len(pages) == 3
    finally:
        storage.delete(paths)


def test_deletes_go_in_batches_of_a_thousand(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    storage = user_storage(backend, session)
    storage.delete(f"{session.user_id}/{n}.webp" for n in range(1001))
    storage.delete([])
    batches = [json_body(r)["prefixes"] for r in backend.sent("DELETE", "/storage/v1/object/")]
    assert [len(b) for b in batches] == [1000, 1]


def test_a_missing_bucket_says_how_to_make_it(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    assert session.access_token is not None
    storage = SupabaseStorage(backend.client(), session.access_token, "no-such-bucket")
    with pytest.raises(StorageFailed, match="does not exist") as caught:
        storage.put(f"{session.user_id}/a.webp", webp(), "image/webp")
    assert caught.value.hint is not None
    assert "GENVAULT_BUCKET" in caught.value.hint


def test_storage_with_an_expired_token_is_session_expired(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session, _ = user_transport(backend)
    expired = double.mint_access_token(session.user_id, ttl=-60)
    storage = SupabaseStorage(backend.client(), expired, backend.settings.bucket)
    with pytest.raises(SessionExpired):
        storage.put(f"{session.user_id}/a.webp", webp(), "image/webp")


def test_malformed_paths_never_leave_the_machine(backend: HostedBackend) -> None:
    session, _ = user_transport(backend)
    storage = user_storage(backend, session)
    sent = len(backend.requests)
    for bad in ("../x.webp", f"{session.user_id}/../other/x.webp", "nofolder.webp"):
        with pytest.raises(StorageFailed, match="malformed"):
            storage.put(bad, b"x", "image/webp")
    assert len(backend.requests) == sent


# -- Auth ------------------------------------------------------------------------------


def test_sign_in_with_password_saves_a_private_session(backend: HostedBackend) -> None:
    account = backend.account()
    store = backend.store()
    session = HostedAuth(backend.client(), store).sign_in_password(account.email, account.password)

    assert session.kind == "hosted"
    assert session.email == account.email
    assert session.access_token
    assert session.refresh_token
    assert session.expires_at is not None
    assert session.expires_at > time.time() + 60
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    assert claims["sub"] == session.user_id
    assert store.load() == session
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600

    [call] = backend.sent("POST", "/auth/v1/token")
    assert dict(call.url.params) == {"grant_type": "password"}
    assert call.headers["apikey"] == backend.settings.supabase_key
    assert "authorization" not in call.headers
    body = json_body(call)
    assert (body["email"], body["password"]) == (account.email, account.password)


@pytest.mark.parametrize("style", ["current", "legacy", "oauth"])
def test_a_wrong_password_is_not_signed_in(backend: HostedBackend, style: str) -> None:
    if style != "current":
        backend.double.auth_errors = style  # type: ignore[assignment]
    account = backend.account()
    store = backend.store()
    with pytest.raises(NotSignedIn, match="Invalid login credentials") as caught:
        HostedAuth(backend.client(), store).sign_in_password(account.email, "wrong password")
    assert caught.value.code == (None if style == "oauth" else "invalid_credentials")
    assert store.load() is None


def test_sign_in_with_an_emailed_code(backend: HostedBackend, double: SupabaseDouble) -> None:
    account = backend.account()
    store = backend.store()
    auth = HostedAuth(backend.client(), store)
    auth.send_code(account.email)
    code = double.outbox[account.email]

    session = auth.verify_code(account.email, f" {code}\n")
    assert store.load() == session
    assert session.email == account.email

    [otp] = backend.sent("POST", "/auth/v1/otp")
    assert json_body(otp)["email"] == account.email
    assert json_body(otp)["create_user"] is True
    assert "code_challenge" not in json_body(otp)
    [verify] = backend.sent("POST", "/auth/v1/verify")
    assert {k: json_body(verify)[k] for k in ("type", "email", "token")} == {
        "type": "email",
        "email": account.email,
        "token": code,
    }


def test_a_wrong_code_is_not_signed_in(backend: HostedBackend) -> None:
    account = backend.account()
    store = backend.store()
    with pytest.raises(NotSignedIn, match="expired or is invalid") as caught:
        HostedAuth(backend.client(), store).verify_code(account.email, "000000")
    assert caught.value.hint is not None
    assert "new code" in caught.value.hint
    assert store.load() is None


def test_codes_for_unknown_addresses_can_be_refused(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    auth = HostedAuth(backend.client(), backend.store())
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    with pytest.raises(NotSignedIn, match="Signups not allowed") as caught:
        auth.send_code(email, create_user=False)
    assert caught.value.code == "otp_disabled"
    assert email not in double.outbox


def test_current_without_a_session_is_not_signed_in(backend: HostedBackend) -> None:
    with pytest.raises(NotSignedIn, match="nobody is signed in") as caught:
        HostedAuth(backend.client(), backend.store()).current()
    assert not isinstance(caught.value, SessionExpired)
    assert backend.requests == []


def test_current_returns_a_fresh_session_as_saved(backend: HostedBackend) -> None:
    store = backend.store()
    session = backend.sign_in(backend.account(), store)
    sent = len(backend.requests)
    assert HostedAuth(backend.client(), store).current() == session
    assert len(backend.requests) == sent


def test_current_refreshes_a_session_about_to_expire(backend: HostedBackend) -> None:
    store = backend.store()
    old = backend.sign_in(backend.account(), store)
    store.save(replace(old, expires_at=time.time() + 30))

    new = HostedAuth(backend.client(), store).current(refresh_margin=60)
    assert new.user_id == old.user_id
    assert new.refresh_token != old.refresh_token
    assert new.expires_at is not None
    assert new.expires_at > time.time() + 60
    assert store.load() == new

    [refresh] = backend.sent("POST", "/auth/v1/token")[1:]
    assert dict(refresh.url.params) == {"grant_type": "refresh_token"}
    assert json_body(refresh) == {"refresh_token": old.refresh_token}
    assert "authorization" not in refresh.headers
    assert new.access_token is not None
    rows = HostedTransport(backend.client(), new.access_token).rpc("list_generations", {})
    assert {row["user_id"] for row in rows} <= {new.user_id}
    if backend.is_double:
        assert old.refresh_token is not None
        assert new.refresh_token is not None
        assert not backend.double.refresh_token_is_active(old.refresh_token)
        assert backend.double.refresh_token_parent(new.refresh_token) == old.refresh_token


def test_an_unrecoverable_refresh_is_session_expired(backend: HostedBackend) -> None:
    store = backend.store()
    old = backend.sign_in(backend.account(), store)
    store.save(replace(old, refresh_token="not-a-refresh-token", expires_at=1.0))
    with pytest.raises(SessionExpired) as caught:
        HostedAuth(backend.client(), store).current()
    assert caught.value.hint is not None
    assert "sign in again" in caught.value.hint


def test_a_refresh_that_lost_a_race_gets_the_winners_refresh_token(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    store = backend.store()
    stale = backend.sign_in(backend.account(), store)
    stale = replace(stale, expires_at=time.time() + 5)
    store.save(stale)
    winner = HostedAuth(backend.client(), store).current()  # the other process

    class StaleOnce(SessionStore):
        loaded = False

        def load(self) -> Session | None:
            if not self.loaded:
                self.loaded = True
                return stale
            return super().load()

    loser = HostedAuth(backend.client(), StaleOnce(store.path)).current()
    # Auth hands the parent of the active token the active one again: no fork.
    assert loser.refresh_token == winner.refresh_token
    assert winner.refresh_token is not None
    assert double.refresh_token_is_active(winner.refresh_token)
    assert double.refresh_token_parent(winner.refresh_token) == stale.refresh_token
    assert store.load() == loser
    assert loser.access_token is not None
    HostedTransport(backend.client(), loser.access_token).rpc("list_generations", {})


def test_sign_out_revokes_the_session_and_forgets_it(backend: HostedBackend) -> None:
    store = backend.store()
    session = backend.sign_in(backend.account(), store)
    auth = HostedAuth(backend.client(), store)
    auth.sign_out()

    assert not store.path.exists()
    [logout] = backend.sent("POST", "/auth/v1/logout")
    assert dict(logout.url.params) == {"scope": "local"}
    assert logout.headers["authorization"] == f"Bearer {session.access_token}"
    assert logout.headers["apikey"] == backend.settings.supabase_key
    with pytest.raises(NotSignedIn):
        auth.current()
    if backend.is_double:
        assert session.refresh_token is not None
        assert not backend.double.refresh_token_is_valid(session.refresh_token)


def test_sign_out_forgets_a_session_auth_already_ended(backend: HostedBackend) -> None:
    account = backend.account()
    here, there = backend.store("here"), backend.store("there")
    backend.sign_in(account, here)
    backend.sign_in(account, there)
    HostedAuth(backend.client(), here).sign_out(everywhere=True)

    HostedAuth(backend.client(), there).sign_out()
    assert not there.path.exists()
    [_, second] = backend.sent("POST", "/auth/v1/logout")
    assert dict(second.url.params) == {"scope": "local"}


def test_sign_out_refreshes_an_expired_token_to_revoke_it(backend: HostedBackend) -> None:
    store = backend.store()
    old = backend.sign_in(backend.account(), store)
    store.save(replace(old, expires_at=time.time() - 5))
    HostedAuth(backend.client(), store).sign_out()

    assert not store.path.exists()
    [refresh] = backend.sent("POST", "/auth/v1/token")[1:]
    assert json_body(refresh) == {"refresh_token": old.refresh_token}
    [logout] = backend.sent("POST", "/auth/v1/logout")
    assert backend.requests.index(refresh) < backend.requests.index(logout)


def test_sign_out_without_network_still_forgets_the_session(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    store = backend.store()
    backend.sign_in(backend.account(), store)
    double.offline = True
    with pytest.raises(BackendUnreachable, match="could not revoke"):
        HostedAuth(backend.client(), store).sign_out()
    assert not store.path.exists()


def test_sign_out_without_a_session_sends_nothing(backend: HostedBackend) -> None:
    HostedAuth(backend.client(), backend.store()).sign_out()
    assert backend.requests == []


def test_signing_in_again_never_sends_the_previous_users_token(backend: HostedBackend) -> None:
    client = backend.client()
    first, second = backend.account(), backend.account()
    alice = HostedAuth(client, backend.store("a")).sign_in_password(first.email, first.password)
    HostedAuth(client, backend.store("b")).sign_in_password(second.email, second.password)
    for call in backend.sent("POST", "/auth/v1/token"):
        assert call.headers.get("authorization") != f"Bearer {alice.access_token}"
    assert client.options.headers["Authorization"] == f"Bearer {client.supabase_key}"


# -- the double is as strict as the services it stands in for ---------------------------


def test_the_double_refuses_a_call_that_would_run_as_anon(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    client = backend.client()
    # supabase-py's own default: the public key as Bearer, i.e. no user at all.
    with pytest.raises(ProtocolViolation, match="not a user's access token"):
        client.rpc("list_generations", {}).execute()
    assert len(double.violations) == 1
    double.violations.clear()


def test_the_double_refuses_storage3s_default_content_type(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session, _ = user_transport(backend)
    client = backend.client()
    files = SyncStorageClient(
        url=str(client.storage_url),
        headers={"apikey": client.supabase_key, "Authorization": f"Bearer {session.access_token}"},
        http_client=backend.http,
    ).from_(backend.settings.bucket)
    with pytest.raises(StorageApiError) as caught:
        files.upload(f"{session.user_id}/plain.webp", webp())
    assert (caught.value.status, caught.value.code) == ("415", "invalid_mime_type")


def test_the_double_answers_user_lookups_as_auth_documents(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = backend.sign_in(backend.account())
    client = backend.client()
    gotrue = SyncGoTrueClient(
        url=str(client.auth_url), headers={"apikey": client.supabase_key}, http_client=backend.http
    )
    found = gotrue.get_user(session.access_token)
    assert found is not None
    assert (found.user.id, found.user.email) == (session.user_id, session.email)
    assert found.user.identities
    assert found.user.identities[0].provider == "email"
    [lookup] = backend.sent("GET", "/auth/v1/user")
    assert lookup.headers["authorization"] == f"Bearer {session.access_token}"
