"""User tokens: verifying Supabase JWTs, and minting them for local users.

The direct transport acts as a user only after this module has verified the
user's token, exactly as PostgREST would: a forged, expired, unsigned
(``alg=none``) or malformed token is refused before any SQL runs.

A local session needs no token at all: its claims are made here, by the process
that acts on them (:func:`local_claims`). PyJWT (and the cryptography it loads)
is therefore imported only where a token is really signed or checked, so that a
local command starts without it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genvault._exceptions import NotSignedIn, SessionExpired

if TYPE_CHECKING:
    from genvault._jwks import SigningKeys

__all__ = ["TokenVerifier", "claims_json", "local_claims", "local_secret", "mint_token"]

_ASYMMETRIC = ["ES256", "RS256", "EdDSA"]
_SIGN_IN_AGAIN = "sign in again with `gen login`"


class TokenVerifier:
    """Checks a user's access token and returns its claims.

    HS256 tokens are checked against the project's JWT secret (the legacy
    system, or a local installation's own secret); ES256/RS256/EdDSA tokens
    against the published key their ``kid`` names (see :class:`SigningKeys`).
    The token's ``alg`` must be the key's: an HS256 token is never checked
    with a public key, nor an asymmetric one with the secret.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        keys: SigningKeys | None = None,
        audience: str = "authenticated",
        leeway: float = 0.0,
    ) -> None:
        if secret is None and keys is None:
            raise ValueError("a TokenVerifier needs a secret, signing keys, or both")
        self._secret = secret
        self._keys = keys
        self._audience = audience
        self._leeway = leeway

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; raises NotSignedIn or SessionExpired."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise NotSignedIn("the access token is malformed") from exc
        alg = header.get("alg")
        key: Any
        if alg == "HS256" and self._secret is not None:
            key, algorithms = self._secret, ["HS256"]
        elif alg in _ASYMMETRIC and self._keys is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise NotSignedIn("the access token does not name its signing key (no kid)")
            found = self._keys.key(kid)
            if found.algorithm_name != alg:
                raise NotSignedIn(
                    f"the access token claims {alg}, but its key {kid} is an "
                    f"{found.algorithm_name} key"
                )
            key, algorithms = found.key, [found.algorithm_name]
        else:
            raise NotSignedIn(f"the access token's algorithm {alg!r} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SessionExpired("the session has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise NotSignedIn(f"the access token was refused: {exc}") from exc
        _check_subject(claims["sub"], "the access token's subject is not a user id")
        if claims.get("role") != "authenticated":
            raise NotSignedIn("the access token is not a signed-in user's token")
        return claims


def local_claims(sub: str, *, email: str | None = None, ttl: int = 3600) -> dict[str, Any]:
    """The claims of a local user's access, shaped like Supabase Auth's."""
    _check_subject(sub, "the saved session does not name a user id", hint=_SIGN_IN_AGAIN)
    now = int(time.time())
    return {
        "sub": sub,
        "email": email,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + ttl,
        "iss": "genvault-local",
    }


def mint_token(secret: str, *, sub: str, email: str | None = None, ttl: int = 3600) -> str:
    """An HS256 access token shaped like Supabase Auth's, for a local user."""
    import jwt

    return jwt.encode(local_claims(sub, email=email, ttl=ttl), secret, algorithm="HS256")


def _check_subject(sub: Any, message: str, *, hint: str | None = None) -> None:
    """Refuse a subject that is not a user id, before it reaches any SQL."""
    try:
        uuid.UUID(str(sub))
    except ValueError as exc:
        raise NotSignedIn(message, hint=hint) from exc


def local_secret(path: Path) -> str:
    """The signing secret of a local installation, created (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return value


def claims_json(claims: Mapping[str, Any]) -> str:
    """Claims as the JSON text PostgREST puts into request.jwt.claims."""
    return json.dumps(dict(claims), separators=(",", ":"), default=str)
