"""Durable image storage: the interface, and the local content-addressed store.

Paths are ``<user_id>/<file>``: the first folder is always the owner, which is
what the database's path check and Supabase Storage's folder policies enforce.
The local store names files by the SHA-256 of their bytes (identical images are
kept once per user); Supabase Storage names them by generation id
(see :mod:`genvault._hosted_storage`).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from genvault._exceptions import NotFound, StorageFailed

__all__ = ["LocalStorage", "Storage", "StoredObject"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class StoredObject:
    """One stored file."""

    path: str
    size: int
    modified: float
    """Seconds since the epoch."""


class Storage(Protocol):
    """Where image bytes are kept for good."""

    kind: str

    def key_for(self, user_id: str, generation_id: str, data: bytes, suffix: str) -> str:
        """The path a file of this generation is stored under."""
        ...

    def put(self, path: str, data: bytes, content_type: str) -> None:
        """Store ``data`` at ``path`` durably (overwriting is allowed and idempotent)."""
        ...

    def get(self, path: str) -> bytes:
        """The bytes at ``path``; NotFound if there are none."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file is stored at ``path``."""
        ...

    def delete(self, paths: Iterable[str]) -> None:
        """Remove these files; missing ones are ignored."""
        ...

    def list(self, prefix: str) -> list[StoredObject]:
        """Every file under the folder ``prefix`` (a user id)."""
        ...

    def url(self, path: str, *, expires_in: int = 3600) -> str:
        """A URL that shows the file: signed (hosted) or file:// (local)."""
        ...


def check_path(path: str) -> list[str]:
    """The segments of a storage path, refusing anything that could escape its folder."""
    parts = path.split("/")
    if len(parts) < 2 or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise StorageFailed(f"refusing a malformed storage path: {path!r}")
    return parts


class LocalStorage:
    """Files under a folder on this machine, content-addressed per user."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, path: str) -> Path:
        return self.root.joinpath(*check_path(path))

    def key_for(self, user_id: str, generation_id: str, data: bytes, suffix: str) -> str:
        return f"{user_id}/{hashlib.sha256(data).hexdigest()}{suffix}"

    def put(self, path: str, data: bytes, content_type: str) -> None:
        target = self._file(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write beside, flush to disk, then rename: a crash never leaves half a file.
            # Named like a stored file, so that a sweep finds and removes one
            # left by a process killed mid-write.
            tmp = target.with_name(f"{target.name}.{os.getpid()}-{time.monotonic_ns()}.part")
            with tmp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(target)
        except OSError as exc:
            raise StorageFailed(
                f"could not store {path}: {exc.strerror or exc}",
                hint=f"check free space and permissions under {self.root}",
            ) from exc

    def get(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"the stored image {path} is missing") from exc
        except OSError as exc:
            raise StorageFailed(f"could not read {path}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def delete(self, paths: Iterable[str]) -> None:
        for path in paths:
            try:
                self._file(path).unlink(missing_ok=True)
            except OSError as exc:
                raise StorageFailed(f"could not delete {path}: {exc.strerror or exc}") from exc

    def list(self, prefix: str) -> list[StoredObject]:
        folder = self.root / check_path(f"{prefix}/x")[0]
        if not folder.is_dir():
            return []
        out = []
        for entry in os.scandir(folder):
            if entry.is_file() and not entry.name.startswith("."):
                stat = entry.stat()
                out.append(StoredObject(f"{prefix}/{entry.name}", stat.st_size, stat.st_mtime))
        return out

    def url(self, path: str, *, expires_in: int = 3600) -> str:
        return self._file(path).resolve().as_uri()
