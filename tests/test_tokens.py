"""Tokens: only a verified, unexpired user token lets the direct transport act as a user."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from genvault import Client, NotSignedIn, SessionExpired
from tests.support.library import settings_for
from tests.support.users import TEST_JWT_SECRET


def claims(user: Any, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": user.id,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("make_token", "error"),
    [
        (
            lambda u: jwt.encode(claims(u, exp=int(time.time()) - 10), TEST_JWT_SECRET),
            SessionExpired,
        ),
        (lambda u: jwt.encode(claims(u), "a-wrong-secret-that-is-long-enough-000000"), NotSignedIn),
        (lambda u: jwt.encode(claims(u), None, algorithm="none"), NotSignedIn),
        (lambda u: jwt.encode(claims(u, sub=None), TEST_JWT_SECRET), NotSignedIn),
        (lambda u: jwt.encode(claims(u, role="service_role"), TEST_JWT_SECRET), NotSignedIn),
        (lambda u: jwt.encode(claims(u, nbf=int(time.time()) + 600), TEST_JWT_SECRET), NotSignedIn),
        (lambda u: jwt.encode(claims(u, sub="not-a-uuid"), TEST_JWT_SECRET), NotSignedIn),
        (lambda u: "not.a.jwt", NotSignedIn),
    ],
    ids=[
        "expired",
        "wrong-signature",
        "alg-none",
        "no-sub",
        "service-role-forged",
        "not-yet-valid",
        "bad-sub",
        "garbage",
    ],
)
def test_bad_tokens_are_refused_before_any_sql(
    make_user: Any, database_url: str, tmp_path: Path, make_token: Any, error: type[Exception]
) -> None:
    user = make_user()
    gv = Client(settings_for(database_url, tmp_path), access_token=make_token(user))
    with pytest.raises(error):
        gv.generations.list()
    assert gv._pool is None  # refused before a connection was even opened
