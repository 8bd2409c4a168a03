"""A Supabase project's public signing keys (its JWKS), fetched and cached.

Projects sign user tokens with asymmetric keys (ES256 by default) and publish
the public halves at ``<SUPABASE_URL>/auth/v1/.well-known/jwks.json``. The set
is read on first use and kept. A token naming a key that is not in the set
makes it read the set again, at most once per ``min_refetch`` seconds, so that
a key rotation does not lock anyone out while a flood of forged ``kid``\\ s
cannot turn genvault into a stream of requests to the project. The set is also
read again once it is ``max_age`` seconds old, so that a withdrawn key stops
being trusted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from genvault._exceptions import BackendUnreachable, NotSignedIn

__all__ = ["SigningKeys", "http_fetcher", "jwks_address"]

Fetcher = Callable[[str], Mapping[str, Any]]
"""Reads the JWKS document at an address; raises BackendUnreachable when it cannot."""

_JWKS_PATH = "/auth/v1/.well-known/jwks.json"


def jwks_address(supabase_url: str) -> str:
    """Where a project's Auth publishes its signing keys."""
    return supabase_url.rstrip("/") + _JWKS_PATH


def http_fetcher(
    client: httpx.Client | None = None,
    *,
    api_key: str | None = None,
    timeout: float = 10.0,
) -> Fetcher:
    """A :data:`Fetcher` over ``client`` (or a fresh connection per read).

    The keys are public; the project's public API key is sent along, as
    Supabase's own clients do, when there is one.
    """
    headers = {"apikey": api_key} if api_key else {}

    def fetch(url: str) -> Mapping[str, Any]:
        try:
            if client is not None:
                response = client.get(url, headers=headers, timeout=timeout)
            else:
                response = httpx.get(url, headers=headers, timeout=timeout)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendUnreachable(
                f"could not read the project's signing keys at {url}: {exc}",
                hint="check SUPABASE_URL (or SUPABASE_JWKS_URL) and the network connection",
            ) from exc
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise BackendUnreachable(
                f"{url} did not answer with a JWKS document",
                hint="check SUPABASE_URL (or SUPABASE_JWKS_URL)",
            )
        return document

    return fetch


class SigningKeys:
    """The signing keys published at ``url``, by ``kid``, read through ``fetch``."""

    def __init__(
        self,
        url: str,
        fetch: Fetcher,
        *,
        min_refetch: float = 30.0,
        max_age: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._min_refetch = min_refetch
        self._max_age = max_age
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        """The published key named ``kid``; raises NotSignedIn when there is none."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None:
                self._refresh(now, keep_old=False)
            elif now - self._fetched_at >= self._max_age and self._may_refetch(now):
                self._refresh(now, keep_old=True)
            found = self._keys.get(kid)
            if found is None and self._may_refetch(now):
                self._refresh(now, keep_old=False)
                found = self._keys.get(kid)
        if found is None:
            raise NotSignedIn(
                f"the access token was signed by a key the project does not publish ({kid})",
                hint="sign in again with `gen login`; if the project has just rotated its "
                "signing keys, try again in a minute",
            )
        return found

    def _may_refetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self._min_refetch

    def _refresh(self, now: float, *, keep_old: bool) -> None:
        """Read the set again. With ``keep_old``, a failed read keeps the old set
        (a periodic re-read must not lock users out while the network is down)."""
        self._tried_at = now
        try:
            document = self._fetch(self.url)
        except BackendUnreachable:
            if keep_old:
                return
            raise
        self._keys = _parse(document)
        self._fetched_at = now


def _parse(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signature keys of a JWKS document, by kid (others are skipped)."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys
