"""Tokens on the hosted path: what PostgREST and Auth answer, and what genvault makes of it.

PostgREST 12.x and 13.x answer the same token problems with different codes;
Auth rotates refresh tokens and forgives some reuse but not all. These run
against the Supabase double, configured as each version, and check both the
answer on the wire and the error genvault raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest

from genvault._exceptions import NotSignedIn, PermissionDenied, SessionExpired
from genvault._hosted import HostedAuth, HostedTransport
from genvault._session import Session, SessionStore
from tests.support.hosted import PROJECT, HostedBackend
from tests.support.supabase_double import PUBLIC_KEY, SupabaseDouble
from tests.support.users import TEST_JWT_SECRET

VERSIONS = pytest.mark.parametrize("version", [12, 13], ids=["postgrest12", "postgrest13"])


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostedBackend]:
    database_url = None if PROJECT is not None else request.getfixturevalue("database_url")
    hosted = HostedBackend(tmp_path, database_url)
    yield hosted
    hosted.close()


@pytest.fixture
def double(backend: HostedBackend) -> SupabaseDouble:
    return backend.double


def signed_in(backend: HostedBackend, store: SessionStore | None = None) -> Session:
    session = backend.sign_in(backend.account(), store)
    assert session.access_token is not None
    return session


def rpc_as(backend: HostedBackend, token: str) -> Any:
    return HostedTransport(backend.client(), token).rpc("list_generations", {})


def raw_rpc(backend: HostedBackend, token: str) -> Any:
    """The double's own answer to a call with ``token``, as PostgREST sends it."""
    return backend.http.post(
        f"{backend.settings.supabase_url}/rest/v1/rpc/list_generations",
        headers={"apikey": PUBLIC_KEY, "Authorization": f"Bearer {token}"},
        json={},
    )


# -- PostgREST: expired tokens, unknown roles, signing keys ----------------------------


@VERSIONS
def test_an_expired_token_is_answered_in_each_versions_code(
    backend: HostedBackend, double: SupabaseDouble, version: Any
) -> None:
    double.postgrest_version = version
    session = signed_in(backend)
    expired = double.mint_access_token(session.user_id, ttl=-31)
    answer = raw_rpc(backend, expired)
    assert answer.status_code == 401
    assert answer.json()["code"] == ("PGRST303" if version == 13 else "PGRST301")
    assert answer.json()["message"] == "JWT expired"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    with pytest.raises(SessionExpired, match="expired") as caught:
        rpc_as(backend, expired)
    assert caught.value.hint is not None
    assert "gen login" in caught.value.hint


def test_postgrest_allows_thirty_seconds_of_clock_skew(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = signed_in(backend)
    assert rpc_as(backend, double.mint_access_token(session.user_id, ttl=-25)) == []
    with pytest.raises(SessionExpired):
        rpc_as(backend, double.mint_access_token(session.user_id, ttl=-35))


@VERSIONS
def test_other_claim_problems_are_not_an_expired_session(
    backend: HostedBackend, double: SupabaseDouble, version: Any
) -> None:
    double.postgrest_version = version
    session = signed_in(backend)
    early = double.mint_access_token(session.user_id, extra={"nbf": int(time.time()) + 600})
    with pytest.raises(NotSignedIn) as caught:
        rpc_as(backend, early)
    assert not isinstance(caught.value, SessionExpired)
    assert caught.value.code == ("PGRST303" if version == 13 else "PGRST301")


@VERSIONS
def test_a_role_the_database_lacks_is_a_refused_token(
    backend: HostedBackend, double: SupabaseDouble, version: Any
) -> None:
    double.postgrest_version = version
    session = signed_in(backend)
    token = double.mint_access_token(session.user_id, extra={"role": "editor"})
    answer = raw_rpc(backend, token)
    assert answer.status_code == (401 if version == 13 else 400)
    assert answer.json()["code"] == "22023"
    assert answer.json()["message"] == 'role "editor" does not exist'
    with pytest.raises(NotSignedIn, match="'editor'") as caught:
        rpc_as(backend, token)
    assert caught.value.code == "22023"
    assert caught.value.hint is not None
    assert "gen login" in caught.value.hint


def test_a_token_cannot_switch_to_a_role_outside_the_api_roles(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = signed_in(backend)
    token = double.mint_access_token(session.user_id, extra={"role": "postgres"})
    with pytest.raises(PermissionDenied) as caught:
        rpc_as(backend, token)
    assert caught.value.code == "42501"


def test_bad_page_sizes_are_still_invalid_input(backend: HostedBackend) -> None:
    """22023 is also Postgres's 'invalid parameter value': only the role message
    is about the token."""
    from genvault._exceptions import InvalidInput

    session = signed_in(backend)
    assert session.access_token is not None
    with pytest.raises(InvalidInput):
        HostedTransport(backend.client(), session.access_token).rpc(
            "list_generations", {"page_size": 0}
        )


def test_auth_signs_with_a_published_es256_key(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = signed_in(backend)
    assert session.access_token is not None
    header = jwt.get_unverified_header(session.access_token)
    assert header["alg"] == "ES256"
    published = backend.http.get(f"{backend.settings.supabase_url}/auth/v1/.well-known/jwks.json")
    assert published.status_code == 200
    [key] = published.json()["keys"]
    assert key["kid"] == header["kid"]
    public = jwt.PyJWK.from_dict(key)
    claims = jwt.decode(
        session.access_token, public.key, algorithms=["ES256"], audience="authenticated"
    )
    assert claims["sub"] == session.user_id


@VERSIONS
def test_a_token_of_a_revoked_key_is_refused_and_the_legacy_secret_still_works(
    backend: HostedBackend, double: SupabaseDouble, version: Any
) -> None:
    double.postgrest_version = version
    session = signed_in(backend)
    assert session.access_token is not None
    old_kid = double.active_kid
    double.rotate_signing_key()
    assert rpc_as(backend, session.access_token) == []  # a previous key still verifies
    double.revoke_signing_key(old_kid)
    with pytest.raises(NotSignedIn) as caught:
        rpc_as(backend, session.access_token)
    assert not isinstance(caught.value, SessionExpired)
    assert caught.value.code == "PGRST301"
    legacy = double.mint_access_token(session.user_id, secret=TEST_JWT_SECRET)
    assert rpc_as(backend, legacy) == []


# -- Auth: refresh token rotation and reuse ----------------------------------------------


def expiring_copies(backend: HostedBackend, session: Session, *names: str) -> list[SessionStore]:
    """Session files holding the same session, as if copied to other processes."""
    stores = []
    for name in names:
        store = backend.store(name)
        store.save(replace(session, expires_at=time.time() + 5))
        stores.append(store)
    return stores


def refresh(backend: HostedBackend, store: SessionStore) -> Session:
    """Refresh the session in ``store`` now, however fresh it is."""
    saved = store.load()
    assert saved is not None
    store.save(replace(saved, expires_at=time.time() + 5))
    return HostedAuth(backend.client(), store).current()


def test_refreshing_twice_with_one_token_gets_the_same_token_back(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    """A refresh whose answer was lost (or two processes at once): the second
    gets the first's refresh token, and the session is not forked."""
    session = signed_in(backend)
    first_store, second_store = expiring_copies(backend, session, "first", "second")
    first = HostedAuth(backend.client(), first_store).current()
    second = HostedAuth(backend.client(), second_store).current()
    assert first.refresh_token == second.refresh_token != session.refresh_token
    assert first.refresh_token is not None
    assert double.refresh_token_is_active(first.refresh_token)
    assert double.refresh_token_parent(first.refresh_token) == session.refresh_token
    for fresh in (first, second):
        assert fresh.access_token is not None
        assert rpc_as(backend, fresh.access_token) == []
    assert refresh(backend, first_store).refresh_token not in (None, first.refresh_token)


def test_an_older_token_is_forgiven_within_the_reuse_interval(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = signed_in(backend)
    current, stale = expiring_copies(backend, session, "current", "stale")
    refresh(backend, current)
    latest = refresh(backend, current)  # the stale copy's token is now a grandparent
    double.advance(double.refresh_reuse_interval - 2)
    again = HostedAuth(backend.client(), stale).current()
    assert again.refresh_token not in (None, latest.refresh_token, session.refresh_token)
    assert again.access_token is not None
    assert rpc_as(backend, again.access_token) == []


def test_reuse_after_the_interval_ends_the_session_everywhere(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    session = signed_in(backend)
    current, stale = expiring_copies(backend, session, "current", "stale")
    refresh(backend, current)
    latest = refresh(backend, current)
    assert latest.refresh_token is not None
    double.advance(double.refresh_reuse_interval + 1)

    with pytest.raises(SessionExpired, match="used again") as caught:
        HostedAuth(backend.client(), stale).current()
    assert caught.value.code == "refresh_token_already_used"
    assert caught.value.hint is not None
    assert "gen login" in caught.value.hint
    [*_, refused] = backend.sent("POST", "/auth/v1/token")
    assert refused.url.params["grant_type"] == "refresh_token"
    assert not double.refresh_token_is_active(latest.refresh_token)

    # The other copy, which did nothing wrong, has lost its session too.
    double.advance(double.refresh_reuse_interval + 1)
    with pytest.raises(SessionExpired) as other:
        refresh(backend, current)
    assert other.value.code == "refresh_token_already_used"


def test_a_refused_refresh_falls_back_to_a_newer_saved_session(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    """A process that read the session file before another one refreshed it twice:
    Auth refuses the old token, and the session the other process saved is used."""
    store = backend.store()
    session = signed_in(backend, store)
    stale = replace(session, expires_at=time.time() + 5)
    refresh(backend, store)
    newer = refresh(backend, store)
    double.advance(double.refresh_reuse_interval + 1)

    class StaleOnce(SessionStore):
        loaded = False

        def load(self) -> Session | None:
            if not self.loaded:
                self.loaded = True
                return stale
            return super().load()

    assert HostedAuth(backend.client(), StaleOnce(store.path)).current() == newer
    assert newer.access_token is not None
    assert rpc_as(backend, newer.access_token) == []


def test_a_malformed_refresh_token_is_refused_as_auth_refuses_it(
    backend: HostedBackend, double: SupabaseDouble
) -> None:
    store = backend.store()
    session = signed_in(backend, store)
    store.save(replace(session, refresh_token="UPPERCASE123", expires_at=1.0))
    with pytest.raises(SessionExpired) as caught:
        HostedAuth(backend.client(), store).current()
    assert caught.value.code == "validation_failed"
