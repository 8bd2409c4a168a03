"""Operator functions: figures over every user, retention clean-up, credit grants.

Only a service_role session or a direct operator connection may run these; the
SQL functions check that themselves (see database/monitoring.sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput, NotFound
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["BATCH", "AdminRepo", "PurgeResult"]

BATCH = 1000
"""Rows a purge deletes per call: the most Supabase's API returns from one call."""


@dataclass(frozen=True)
class PurgeResult:
    """What a retention purge found (dry run) or removed."""

    generations: int
    files: int
    dry_run: bool


class AdminRepo:
    """Monitoring queries and operator actions."""

    def __init__(
        self, transport: Transport, storage: Storage, *, owner_url: str | None = None
    ) -> None:
        self._transport = transport
        self._storage = storage
        self._owner_url = owner_url

    def images_per_user(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Users with the most images."""
        rows: list[dict[str, Any]] = self._transport.rpc(
            "admin_images_per_user", {"max_rows": limit}
        )
        return rows

    def popular_prompts(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """The most repeated prompts."""
        rows: list[dict[str, Any]] = self._transport.rpc(
            "admin_popular_prompts", {"max_rows": limit}
        )
        return rows

    def trends(self, *, bucket: str = "day", periods: int = 30) -> list[dict[str, Any]]:
        """Images and active users per day or week."""
        rows: list[dict[str, Any]] = self._transport.rpc(
            "admin_trends", {"bucket": bucket, "periods": periods}
        )
        return rows

    def storage_estimate(self) -> dict[str, Any]:
        """Images, users and bytes in storage."""
        rows = self._transport.rpc("admin_storage_estimate", {})
        return dict(rows[0]) if rows else {}

    def purge(self, older_than: timedelta, *, dry_run: bool = True) -> PurgeResult:
        """Remove (or, on a dry run, count) generations older than ``older_than``, files too."""
        if older_than < timedelta(days=1):
            raise InvalidInput(
                "the retention age is too short", hint="use at least 1 day, e.g. 90d"
            )
        if dry_run:
            rows = self._transport.rpc("admin_purge_older_than_summary", {"age": older_than})
            found = rows[0] if rows else {"generations": 0, "files": 0}
            return PurgeResult(int(found["generations"]), int(found["files"]), dry_run=True)
        return self._in_batches(
            "admin_purge_older_than", {"age": older_than, "dry_run": False, "max_rows": BATCH}
        )

    def purge_trash(self, older_than: timedelta = timedelta(days=30)) -> PurgeResult:
        """Delete for good what has been in the trash longer than ``older_than``, files too."""
        if older_than < timedelta(0):
            raise InvalidInput("the age must not be negative", hint="e.g. 30d")
        return self._in_batches("admin_purge_trash", {"older_than": older_than, "max_rows": BATCH})

    def _in_batches(self, fn: str, args: dict[str, Any]) -> PurgeResult:
        """Call a purge function until it deletes nothing, removing each batch's files.

        Each call deletes at most :data:`BATCH` rows, so its whole answer fits in
        one answer of the Supabase API (db-max-rows, 1000 unless a project lowers
        it). Only an empty batch means the end.
        """
        total = files = 0
        while True:
            rows = self._transport.rpc(fn, args)
            if not rows:
                return PurgeResult(generations=total, files=files, dry_run=False)
            paths = sorted({p for r in rows for p in r["removable_paths"] or ()})
            if paths:
                self._storage.delete(paths)
            total += len(rows)
            files += len(paths)

    def grant(self, user: str, amount: int, *, idempotency_key: str | None = None) -> int:
        """Add ``amount`` credits (negative removes) to a user given by id or email."""
        who = _validate.text(str(user), "user")
        user_id = self._transport.rpc("admin_find_user", {"who": who}, scalar=True)
        if user_id is None:
            raise NotFound(f"no user {user!r}", hint="give the user's id or email")
        balance = self._transport.rpc(
            "grant_credits",
            {"target_user": user_id, "amount": amount, "idempotency_key": idempotency_key},
            scalar=True,
        )
        return int(balance)
