"""The signed-in user's session, kept between runs in a user-only file.

A hosted session holds Supabase Auth's access and refresh tokens. A local session
(the embedded default) holds only who the user is; genvault mints a short-lived
token for it, signed with the installation's own secret, whenever it is needed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Session", "SessionStore"]


@dataclass(frozen=True)
class Session:
    """Who is signed in, and the tokens that prove it (hosted only)."""

    kind: Literal["hosted", "local"]
    user_id: str
    email: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None
    """Seconds since the epoch when the access token expires."""

    def expires_within(self, seconds: float) -> bool:
        """Whether the access token expires within ``seconds`` (refresh before use)."""
        return self.expires_at is not None and self.expires_at - time.time() < seconds


class SessionStore:
    """One session per profile in ``<profile_dir>/session.json``, mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Session | None:
        """The saved session, or None when nobody is signed in (or the file is unreadable)."""
        try:
            raw = json.loads(self.path.read_text())
            return Session(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, session: Session) -> None:
        """Write the session so that only this OS user can read it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(session), out)
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def clear(self) -> None:
        """Forget the session."""
        self.path.unlink(missing_ok=True)
