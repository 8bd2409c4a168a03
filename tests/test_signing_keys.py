"""The direct transport checks Supabase's ES256 user tokens against the project's JWKS.

The keys come from the Supabase double's Auth (``/auth/v1/.well-known/jwks.json``),
fetched over HTTP as from a real project. Each test proves what must be refused
as well as what must pass, and counts how often the key set was read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from genvault import Client, NotSignedIn
from genvault._exceptions import BackendUnreachable
from genvault._jwks import SigningKeys, http_fetcher, jwks_address
from genvault._settings import Settings
from genvault._tokens import TokenVerifier
from tests.support.supabase_double import PUBLIC_KEY, SupabaseDouble
from tests.support.users import TEST_JWT_SECRET, User

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


@pytest.fixture
def project(database_url: str) -> Iterator[SupabaseDouble]:
    double = SupabaseDouble(jwt_secret=TEST_JWT_SECRET, database_url=database_url)
    yield double
    double.close()
    assert not double.violations, "\n".join(double.violations)


@pytest.fixture
def http(project: SupabaseDouble) -> Iterator[httpx.Client]:
    with httpx.Client(transport=project.transport()) as client:
        yield client


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_reads(double: SupabaseDouble) -> int:
    return sum(1 for r in double.requests if r.url.path == JWKS_PATH)


def verifier(
    double: SupabaseDouble, http: httpx.Client, clock: Clock, secret: str | None = None
) -> TokenVerifier:
    keys = SigningKeys(
        jwks_address(double.url), http_fetcher(http, api_key=PUBLIC_KEY), clock=clock
    )
    return TokenVerifier(secret=secret, keys=keys)


def signed_up(double: SupabaseDouble, user: User) -> str:
    double.add_user(user.email, None, user_id=user.id)
    return user.id


def direct_settings(database_url: str, home: Path, double: SupabaseDouble, **over: Any) -> Settings:
    """A direct connection to the project's database, signing in with its Auth."""
    return Settings(
        home=home,
        database_url=database_url,
        supabase_url=double.url,
        supabase_key=PUBLIC_KEY,
        **over,
    )


def test_the_keys_are_found_under_supabase_url_and_read_once(
    project: SupabaseDouble, http: httpx.Client, make_user: Any, database_url: str, tmp_path: Path
) -> None:
    user_id = signed_up(project, make_user(credits=3))
    settings = direct_settings(database_url, tmp_path, project)
    assert settings.jwks_url is None  # no separate setting
    token = project.mint_access_token(user_id)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    with Client(settings, access_token=token, http_client=http) as gv:
        assert gv.credits.balance() == 3
        assert gv.generations.list().items == []
    [read] = [r for r in project.requests if r.url.path == JWKS_PATH]
    assert str(read.url) == f"{project.url}{JWKS_PATH}"
    assert read.method == "GET"
    assert "authorization" not in read.headers


def test_the_key_set_is_kept_between_tokens(
    project: SupabaseDouble, http: httpx.Client, make_user: Any
) -> None:
    user_id = signed_up(project, make_user())
    check = verifier(project, http, Clock())
    for _ in range(5):
        assert check.verify(project.mint_access_token(user_id))["sub"] == user_id
    assert key_reads(project) == 1


def test_a_rotated_key_is_fetched_when_a_token_first_names_it(
    project: SupabaseDouble, http: httpx.Client, make_user: Any
) -> None:
    user_id = signed_up(project, make_user())
    clock = Clock()
    check = verifier(project, http, clock)
    old_token = project.mint_access_token(user_id)
    check.verify(old_token)
    clock.now += 31
    new_kid = project.rotate_signing_key()
    new_token = project.mint_access_token(user_id)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert check.verify(new_token)["sub"] == user_id
    assert key_reads(project) == 2
    check.verify(old_token)  # the previous key stays published until it is revoked
    assert key_reads(project) == 2


def test_an_unknown_key_inside_the_refetch_window_is_refused_without_a_second_read(
    project: SupabaseDouble, http: httpx.Client, make_user: Any
) -> None:
    user_id = signed_up(project, make_user())
    clock = Clock()
    check = verifier(project, http, clock)
    check.verify(project.mint_access_token(user_id))
    project.rotate_signing_key()
    new_token = project.mint_access_token(user_id)
    clock.now += 5
    for _ in range(3):
        with pytest.raises(NotSignedIn, match="does not publish") as caught:
            check.verify(new_token)
        assert caught.value.hint is not None
        assert "try again in a minute" in caught.value.hint
    assert key_reads(project) == 1
    clock.now += 25  # 30 s after the last read: one more is allowed
    assert check.verify(new_token)["sub"] == user_id
    assert key_reads(project) == 2


def test_a_revoked_key_stops_being_trusted_once_the_set_is_old(
    project: SupabaseDouble, http: httpx.Client, make_user: Any
) -> None:
    user_id = signed_up(project, make_user())
    clock = Clock()
    check = verifier(project, http, clock)
    old_kid = project.active_kid
    old_token = project.mint_access_token(user_id, ttl=7200)
    check.verify(old_token)
    project.rotate_signing_key()
    project.revoke_signing_key(old_kid)
    clock.now += 601
    with pytest.raises(NotSignedIn, match="does not publish"):
        check.verify(old_token)
    assert check.verify(project.mint_access_token(user_id))["sub"] == user_id
    assert key_reads(project) == 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(double: SupabaseDouble, claims: dict[str, Any]) -> str:
    """The algorithm-confusion forgery: HS256, with the project's public key as the secret."""
    [jwk] = double.jwks()["keys"]
    public = jwt.PyJWK.from_dict(jwk).key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def user_claims(user_id: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": user_id,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }


FORGERIES = {
    "another-key-same-kid": lambda d, c: jwt.encode(
        c,
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": d.active_kid},
    ),
    "alg-none": lambda d, c: jwt.encode(c, None, algorithm="none", headers={"kid": d.active_kid}),
    "hs256-with-the-public-key": hs256_with_public_key,
    "es384-header-on-the-es256-key": lambda d, c: jwt.encode(
        c,
        ec.generate_private_key(ec.SECP384R1()),
        algorithm="ES384",
        headers={"kid": d.active_kid},
    ),
    "no-kid": lambda d, c: jwt.encode(c, d._signing_keys[d.active_kid].private, algorithm="ES256"),
    "made-up-kid": lambda d, c: jwt.encode(
        c, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "k1"}
    ),
}


@pytest.mark.parametrize("secret", [None, TEST_JWT_SECRET], ids=["keys-only", "with-secret"])
@pytest.mark.parametrize("forge", list(FORGERIES.values()), ids=list(FORGERIES))
def test_forged_tokens_are_refused_before_any_sql(
    project: SupabaseDouble,
    http: httpx.Client,
    make_user: Any,
    database_url: str,
    tmp_path: Path,
    forge: Any,
    secret: str | None,
) -> None:
    user_id = signed_up(project, make_user())
    forged = forge(project, user_claims(user_id))
    settings = direct_settings(database_url, tmp_path, project, jwt_secret=secret)
    gv = Client(settings, access_token=forged, http_client=http)
    with pytest.raises(NotSignedIn):
        gv.generations.list()
    assert gv._pool is None  # refused before a connection was even opened
    assert key_reads(project) <= 1


def test_the_project_signature_is_what_makes_a_token_pass(
    project: SupabaseDouble, http: httpx.Client, make_user: Any
) -> None:
    """The same claims pass when the project signs them: the refusals above are
    about the signature, not the claims."""
    user_id = signed_up(project, make_user())
    check = verifier(project, http, Clock(), secret=TEST_JWT_SECRET)
    claims = user_claims(user_id)
    genuine = jwt.encode(
        claims,
        project._signing_keys[project.active_kid].private,
        algorithm="ES256",
        headers={"kid": project.active_kid},
    )
    assert check.verify(genuine)["sub"] == user_id
    with pytest.raises(NotSignedIn):
        check.verify(hs256_with_public_key(project, claims))


def test_legacy_hs256_tokens_still_pass_with_the_jwt_secret(
    project: SupabaseDouble, http: httpx.Client, make_user: Any, database_url: str, tmp_path: Path
) -> None:
    user_id = signed_up(project, make_user(credits=2))
    token = project.mint_access_token(user_id, secret=TEST_JWT_SECRET)
    settings = direct_settings(database_url, tmp_path, project, jwt_secret=TEST_JWT_SECRET)
    with Client(settings, access_token=token, http_client=http) as gv:
        assert gv.credits.balance() == 2
    assert key_reads(project) == 0  # an HS256 token needs no published key
    wrong = project.mint_access_token(user_id, secret="another-secret-long-enough-for-hs256-00")
    with pytest.raises(NotSignedIn):
        Client(settings, access_token=wrong, http_client=http).generations.list()


def test_unreachable_keys_are_backend_unreachable(
    project: SupabaseDouble, http: httpx.Client, make_user: Any, database_url: str, tmp_path: Path
) -> None:
    user_id = signed_up(project, make_user())
    token = project.mint_access_token(user_id)
    project.offline = True
    gv = Client(
        direct_settings(database_url, tmp_path, project), access_token=token, http_client=http
    )
    with pytest.raises(BackendUnreachable, match="signing keys") as caught:
        gv.generations.list()
    assert caught.value.hint is not None
    assert "SUPABASE_URL" in caught.value.hint


def test_an_explicit_jwks_address_wins(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        supabase_url="https://ref.supabase.test/",
        supabase_key=PUBLIC_KEY,
        jwks_url="https://keys.example.test/jwks.json",
    )
    assert settings.signing_keys_url == "https://keys.example.test/jwks.json"
    derived = Settings(home=tmp_path, supabase_url="https://ref.supabase.test/")
    assert derived.signing_keys_url == f"https://ref.supabase.test{JWKS_PATH}"
    assert Settings(home=tmp_path).signing_keys_url is None


def test_the_double_publishes_only_public_es256_keys(project: SupabaseDouble) -> None:
    first = project.active_kid
    second = project.rotate_signing_key()
    document = project.jwks()
    assert [k["kid"] for k in document["keys"]] == [first, second]
    for key in document["keys"]:
        assert key["kty"] == "EC"
        assert key["alg"] == "ES256"
        assert "d" not in key  # never the private half
    project.revoke_signing_key(first)
    assert [k["kid"] for k in project.jwks()["keys"]] == [second]
    assert uuid.UUID(second)
