"""Signing in with a hosted project's Auth (``/auth/v1``), and keeping the session.

Password, one-time code, refresh and sign-out, each mapped onto genvault's
errors. The session lives in genvault's own file (:class:`SessionStore`), never
in the shared Supabase client.
"""

from __future__ import annotations

import time

import supabase
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError
from supabase_auth.types import Session as AuthSession

from genvault import _validate
from genvault._exceptions import BackendUnreachable, GenvaultError, NotSignedIn, SessionExpired
from genvault._hosted_client import SIGN_IN_AGAIN, http_client
from genvault._session import Session, SessionStore

__all__ = ["HostedAuth"]


class HostedAuth:
    """Signs in with Supabase Auth and keeps the session in ``store``.

    It talks to Auth through a GoTrue client of its own that shares the
    Supabase client's URL, key and HTTP connections. Signing in through the
    shared ``client.auth`` would rewrite the shared client's default headers
    with this user's token; here, the session lives only in ``store``.
    """

    def __init__(self, client: supabase.Client, store: SessionStore) -> None:
        self._auth = SyncGoTrueClient(
            url=str(client.auth_url),
            headers={"apikey": client.supabase_key},
            http_client=http_client(client),
            auto_refresh_token=False,
            persist_session=False,
            flow_type="implicit",
        )
        self._store = store

    def sign_in_password(self, email: str, password: str) -> Session:
        """Sign in with email and password, and save the session."""
        _validate.text(email, "email address")
        _validate.text(password, "password")
        try:
            response = self._auth.sign_in_with_password({"email": email, "password": password})
        except AuthError as exc:
            raise _auth_error(exc) from exc
        return self._keep(response.session)

    def send_code(self, email: str, *, create_user: bool = True) -> None:
        """Email a one-time sign-in code.

        With ``create_user`` (the default, as in Supabase) an unknown address
        gets an account, if the project allows sign-ups.
        """
        _validate.text(email, "email address")
        try:
            self._auth.sign_in_with_otp(
                {"email": email, "options": {"should_create_user": create_user}}
            )
        except AuthError as exc:
            raise _auth_error(exc) from exc

    def verify_code(self, email: str, code: str) -> Session:
        """Sign in with the emailed code, and save the session."""
        _validate.text(email, "email address")
        _validate.text(code, "code")
        try:
            response = self._auth.verify_otp(
                {"email": email, "token": code.strip(), "type": "email"}
            )
        except AuthError as exc:
            raise _auth_error(exc) from exc
        return self._keep(response.session)

    def current(self, refresh_margin: float = 60) -> Session:
        """The saved session, refreshed first when it expires within ``refresh_margin`` s."""
        session = self._store.load()
        if session is None or session.kind != "hosted" or not session.access_token:
            raise NotSignedIn("nobody is signed in", hint="sign in with `gen login`")
        if not session.expires_within(refresh_margin):
            return session
        if not session.refresh_token:
            raise SessionExpired("the session has expired", hint=SIGN_IN_AGAIN)
        try:
            response = self._auth.refresh_session(session.refresh_token)
        except AuthError as exc:
            if _server_trouble(exc):
                raise _auth_error(exc) from exc
            # Refresh tokens are single-use: another process may have refreshed
            # this session a moment ago and saved the result.
            newer = self._store.load()
            if (
                newer is not None
                and newer.refresh_token != session.refresh_token
                and newer.access_token
                and not newer.expires_within(refresh_margin)
            ):
                return newer
            raise _refresh_refused(exc) from exc
        return self._keep(response.session)

    def sign_out(self, *, everywhere: bool = False) -> None:
        """Revoke the session at Supabase Auth, then forget it.

        The saved session is removed even when Auth reports it already invalid,
        or cannot be reached (then BackendUnreachable says it was not revoked).
        ``everywhere`` also signs the user out of their other devices.
        """
        session = self._store.load()
        if session is None:
            return
        try:
            token = session.access_token
            if token and session.refresh_token and session.expires_within(10):
                # An expired token cannot revoke anything: refresh it first.
                try:
                    fresh = self._auth.refresh_session(session.refresh_token).session
                    token = fresh.access_token if fresh else None
                except AuthApiError as exc:
                    if _server_trouble(exc):
                        raise
                    token = None  # the refresh token is already dead: nothing to revoke
            if token:
                self._auth.admin.sign_out(token, "global" if everywhere else "local")
        except AuthError as exc:
            if isinstance(exc, AuthApiError) and exc.status in (401, 403, 404):
                return  # already signed out at Auth
            if _server_trouble(exc):
                raise BackendUnreachable(
                    f"signed out here, but Supabase Auth could not revoke the session: "
                    f"{exc.message}",
                    hint="the session stays valid at Supabase until it expires",
                ) from exc
            raise _auth_error(exc) from exc
        finally:
            self._store.clear()

    def _keep(self, auth_session: AuthSession | None) -> Session:
        if auth_session is None:
            raise NotSignedIn(
                "Supabase Auth returned no session",
                hint="confirm the email address first, then sign in again",
            )
        expires_at = auth_session.expires_at or int(time.time()) + auth_session.expires_in
        session = Session(
            kind="hosted",
            user_id=auth_session.user.id,
            email=auth_session.user.email,
            access_token=auth_session.access_token,
            refresh_token=auth_session.refresh_token,
            expires_at=float(expires_at),
        )
        self._store.save(session)
        return session


def _server_trouble(exc: AuthError) -> bool:
    """Whether Auth could not answer (network, 5xx), as opposed to refusing."""
    if isinstance(exc, AuthRetryableError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and status >= 500


_AUTH_HINTS: dict[str, str] = {
    "invalid_credentials": "check the email address and password",
    "email_not_confirmed": "confirm the email address with the link Supabase sent, then sign in",
    "otp_expired": "ask for a new code and enter it within a few minutes",
    "otp_disabled": "this address has no account, and the project allows no sign-ups by code",
    "user_banned": "ask the project's operator",
}


def _auth_error(exc: AuthError) -> GenvaultError:
    """An Auth failure as a genvault error, keeping Auth's own message."""
    if _server_trouble(exc):
        return BackendUnreachable(
            f"Supabase Auth could not be reached: {exc.message}",
            hint="check SUPABASE_URL and the network connection, then try again",
        )
    code: str | None = exc.code
    if getattr(exc, "status", None) == 429:
        return GenvaultError(exc.message, hint="wait a minute, then try again", code=code or "429")
    return NotSignedIn(exc.message, hint=_AUTH_HINTS.get(code or ""), code=code)


def _refresh_refused(exc: AuthError) -> SessionExpired:
    """Auth's refusal to refresh a session: it has ended, so sign in again.

    Auth revokes every token of a session when a refresh token is used again
    after its reuse interval (a copy of the session file in use elsewhere, say).
    """
    if str(exc.code or "") == "refresh_token_already_used":
        return SessionExpired(
            "Supabase Auth ended the session: its refresh token was used again after "
            "it had been replaced (is a copy of this session in use elsewhere?)",
            hint=SIGN_IN_AGAIN,
            code=exc.code,
        )
    return SessionExpired(
        f"the session has expired and could not be refreshed: {exc.message}",
        hint=SIGN_IN_AGAIN,
        code=exc.code,
    )
