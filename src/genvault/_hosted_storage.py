"""Image files in a hosted project's Storage (``/storage/v1``), a private bucket.

The hosted twin of :class:`~genvault._storage.LocalStorage`: the same
:class:`~genvault._storage.Storage` interface, with Storage checking the
bucket's policies against the access token sent on every request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import supabase
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException

from genvault._exceptions import (
    GenvaultError,
    NotFound,
    NotSignedIn,
    SessionExpired,
    StorageFailed,
    TimedOut,
)
from genvault._hosted_client import auth_headers, http_client, require_service_key, unreachable
from genvault._storage import StoredObject, check_path

__all__ = ["SupabaseStorage"]

# Storage refuses to delete more than 1,000 objects in one request.
_DELETE_BATCH = 1000
# What Storage says of an expired access token (its JWT library's words; older
# Storage versions said "jwt expired"), and of a token it cannot accept at all.
_STORAGE_EXPIRED = re.compile(r'"exp" claim timestamp check failed|jwt expired|token has expired')
_STORAGE_BAD_TOKEN = re.compile(r"jwt|jws|signature|claim")


class SupabaseStorage:
    """Image files in a private Supabase Storage bucket, named by generation id.

    Paths are ``<user_id>/<generation_id><suffix>``; the bucket's policies let
    a user read and write only under their own id, and Storage enforces them
    with the access token sent on every request.
    """

    kind = "supabase"

    def __init__(
        self,
        client: supabase.Client,
        access_token: str,
        bucket: str,
        *,
        list_page_size: int = 1000,
    ) -> None:
        if list_page_size < 1:
            raise ValueError("list_page_size must be at least 1")
        self._storage_url = str(client.storage_url)
        self._where = str(client.supabase_url)
        self._bucket = bucket
        self._page = list_page_size
        storage = SyncStorageClient(
            url=self._storage_url,
            headers=auth_headers(client, access_token),
            http_client=http_client(client),
        )
        self._files = storage.from_(bucket)

    @classmethod
    def service(cls, client: supabase.Client, bucket: str) -> SupabaseStorage:
        """The operator's storage, for a client made with the service key."""
        require_service_key(client)
        return cls(client, client.supabase_key, bucket)

    def key_for(self, user_id: str, generation_id: str, data: bytes, suffix: str) -> str:
        return f"{user_id}/{generation_id}{suffix}"

    def put(self, path: str, data: bytes, content_type: str) -> None:
        check_path(path)
        if not content_type:
            raise ValueError("a content type is required (storage3 would send text/plain)")
        try:
            self._files.upload(path, data, {"content-type": content_type, "x-upsert": "true"})
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "store", path) from exc

    def get(self, path: str) -> bytes:
        check_path(path)
        try:
            return self._files.download(path)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "read", path) from exc

    def exists(self, path: str) -> bool:
        check_path(path)
        try:
            return self._files.exists(path)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "look up", path) from exc

    def delete(self, paths: Iterable[str]) -> None:
        wanted = list(paths)
        for path in wanted:
            check_path(path)
        for start in range(0, len(wanted), _DELETE_BATCH):
            batch = wanted[start : start + _DELETE_BATCH]
            try:
                self._files.remove(batch)
            except (StorageException, httpx.RequestError) as exc:
                raise self._error(exc, "delete", batch[0]) from exc

    def list(self, prefix: str) -> list[StoredObject]:
        folder = check_path(f"{prefix}/x")[0]
        found: list[StoredObject] = []
        offset = 0
        while True:
            try:
                page = self._files.list(
                    folder,
                    {
                        "limit": self._page,
                        "offset": offset,
                        "sortBy": {"column": "name", "order": "asc"},
                    },
                )
            except (StorageException, httpx.RequestError) as exc:
                raise self._error(exc, "list", folder) from exc
            for entry in page:
                if entry.get("id") is None:  # a sub-folder, not a file
                    continue
                meta = entry.get("metadata") or {}
                found.append(
                    StoredObject(
                        f"{folder}/{entry['name']}",
                        int(meta.get("size") or 0),
                        _epoch(entry.get("updated_at") or meta.get("lastModified")),
                    )
                )
            if len(page) < self._page:
                return found
            offset += self._page

    def url(self, path: str, *, expires_in: int = 3600) -> str:
        check_path(path)
        if expires_in < 1:
            raise ValueError("expires_in must be at least one second")
        try:
            signed = self._files.create_signed_url(path, expires_in)
        except (StorageException, httpx.RequestError) as exc:
            raise self._error(exc, "sign a URL for", path) from exc
        value = signed.get("signedURL") or signed.get("signedUrl")
        if not value:
            raise StorageFailed(f"Storage returned no signed URL for {path}")
        if value.startswith(("https://", "http://")):
            return value
        # Storage answers with a path under /storage/v1 ("/object/sign/...").
        return self._storage_url.rstrip("/") + "/" + value.lstrip("/")

    def _error(self, exc: Exception, action: str, path: str) -> GenvaultError:
        if isinstance(exc, httpx.RequestError):
            return unreachable(self._where, exc)
        if not isinstance(exc, StorageApiError):
            return StorageFailed(f"could not {action} {path}: {exc}")
        # Storage answers HTTP 400 for most errors; what happened is in the body:
        # statusCode (a string), error (an older name) and message.
        status, message = str(exc.status), exc.message
        lowered = message.lower()
        if _STORAGE_EXPIRED.search(lowered):
            return SessionExpired(f"Storage refused the expired session: {message}", code=status)
        if status == "401" or _STORAGE_BAD_TOKEN.search(lowered):
            return NotSignedIn(f"Storage refused the access token: {message}", code=status)
        if status == "544" or exc.code == "DatabaseTimeout":
            return TimedOut(
                f"Storage's database took too long to {action} {path}: {message}", code=status
            )
        if "bucket not found" in lowered:
            return StorageFailed(
                f"the storage bucket {self._bucket!r} does not exist",
                hint="create it with database/storage.sql, or set GENVAULT_BUCKET",
                code=status,
            )
        if status == "404" or exc.code in ("not_found", "NoSuchKey"):
            return NotFound(f"the stored image {path} is missing", code=status)
        if status == "403" or "row-level security" in lowered:
            return StorageFailed(
                f"Storage refused to {action} {path}: {message}",
                hint="files can only go in the folder named after your own user id, "
                "and the bucket needs genvault's storage policies (database/storage.sql)",
                code=status,
            )
        return StorageFailed(f"could not {action} {path}: {message}", code=status)


def _epoch(value: Any) -> float:
    """Seconds since the epoch from Storage's ISO 8601 timestamps (0 when absent)."""
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
