"""The errors genvault raises.

Every error a person can act on derives from :class:`GenvaultError`::

    GenvaultError
    ├── ConfigError            a setting is missing or malformed
    ├── NotSignedIn            no user session, or the token was refused
    │   └── SessionExpired     the session ran out and could not be refreshed
    ├── PermissionDenied       the database refused the call (RLS, grants, operator-only)
    ├── NotFound               no such generation (another user's id looks the same)
    ├── InsufficientCredits    the balance is 0
    ├── InvalidInput           bad prompt, option, id, limit, ...
    ├── Conflict               the call raced another (a reservation already settled)
    ├── ModelFailed            the image model failed, timed out or was cancelled
    ├── StorageFailed          image bytes could not be stored or read
    ├── TimedOut               the database stopped a call that ran past its time limit
    └── BackendUnreachable     the database or Supabase could not be reached

Programming mistakes (wrong types, misuse of the API) raise the usual Python
exceptions and are deliberately outside this tree, so that ``except
GenvaultError`` never hides a bug.
"""

from __future__ import annotations

__all__ = [
    "BackendUnreachable",
    "ConfigError",
    "Conflict",
    "GenvaultError",
    "InsufficientCredits",
    "InvalidInput",
    "ModelFailed",
    "NotFound",
    "NotSignedIn",
    "PermissionDenied",
    "SessionExpired",
    "StorageFailed",
    "TimedOut",
    "error_from_code",
]


class GenvaultError(Exception):
    """Root of every error a user of genvault can act on.

    ``hint`` says what to do about it; ``code`` keeps the database or HTTP code
    it came from, when there was one.
    """

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(GenvaultError):
    """A setting is missing or malformed; the message names the variable."""


class NotSignedIn(GenvaultError):
    """The call needs a signed-in user and has none, or the token was refused."""


class SessionExpired(NotSignedIn):
    """The saved session expired and could not be refreshed; sign in again."""


class PermissionDenied(GenvaultError):
    """The database refused the call: row level security, a missing grant, or operators only."""


class NotFound(GenvaultError):
    """No such row for this user; another user's id is reported exactly the same way."""


class InsufficientCredits(GenvaultError):
    """The user's credit balance is 0, so no generation was started."""


class InvalidInput(GenvaultError):
    """An argument was refused; the message says which and what is allowed."""


class Conflict(GenvaultError):
    """The call lost a race, for example a reservation that was already settled."""


class ModelFailed(GenvaultError):
    """The image model failed, returned no usable image, timed out or was cancelled."""


class StorageFailed(GenvaultError):
    """The image bytes could not be written to or read from storage."""


class TimedOut(GenvaultError):
    """The database cancelled the call at its statement timeout (SQLSTATE 57014).

    A Supabase project gives each API role a time limit per statement (3 s for
    visitors, 8 s for signed-in users); the call changed nothing.
    """


class BackendUnreachable(GenvaultError):
    """The database or the Supabase project could not be reached."""


# Postgres SQLSTATEs, PostgREST codes and genvault's own codes, in one place.
_BY_CODE: dict[str, type[GenvaultError]] = {
    "GV001": InsufficientCredits,
    "28000": NotSignedIn,
    "28P01": NotSignedIn,
    "PGRST301": NotSignedIn,
    "PGRST302": NotSignedIn,
    "PGRST303": SessionExpired,
    "42501": PermissionDenied,
    "P0002": NotFound,
    "PGRST116": NotFound,
    "22023": InvalidInput,
    "22P02": InvalidInput,
    "22001": InvalidInput,
    "22021": InvalidInput,
    "23514": InvalidInput,
    "23502": InvalidInput,
    "PGRST202": InvalidInput,
    "23505": Conflict,
    "40001": Conflict,
    "40P01": Conflict,
    "55000": Conflict,
    "57014": TimedOut,
    "57P01": BackendUnreachable,
    "08000": BackendUnreachable,
    "08001": BackendUnreachable,
    "08003": BackendUnreachable,
    "08006": BackendUnreachable,
}

_DEFAULT_HINTS: dict[type[GenvaultError], str] = {
    NotSignedIn: "sign in with `gen login`",
    SessionExpired: "sign in again with `gen login`",
    PermissionDenied: "this needs the owner of the data or an operator connection",
    InsufficientCredits: "ask an operator for credits (`gen admin grant`)",
    BackendUnreachable: "check DATABASE_URL or SUPABASE_URL and that the server is running",
    TimedOut: "nothing was changed; try again, and if it keeps happening ask for less at once "
    "(a smaller --limit, fewer ids or a narrower search)",
}


def error_from_code(code: str | None, message: str, hint: str | None = None) -> GenvaultError:
    """Turn a Postgres SQLSTATE or PostgREST code into the matching genvault error.

    Unknown codes become a plain :class:`GenvaultError` that keeps the code.
    """
    cls = _BY_CODE.get(code or "", GenvaultError)
    return cls(message, hint=hint or _DEFAULT_HINTS.get(cls), code=code)
