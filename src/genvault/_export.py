"""Exporting a history: every image plus a manifest, to a folder or a zip file.

Exports are resumable: a file already present with the right SHA-256 is not
fetched again, and a zip is built under ``<name>.partial`` and renamed when
complete. Images are written one at a time as they arrive (never buffered all
together), so memory stays flat however large the history is.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from genvault._exceptions import InvalidInput
from genvault._generations import GenerationsRepo
from genvault._paging import MAX_PAGE
from genvault._records import Generation

__all__ = ["ExportProgress", "ExportResult", "export_history"]

ExportProgress = Callable[[int, int, int], None]
"""Called as (images done, images in all, bytes written)."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    images: int
    skipped: int
    """Images already present from an earlier, interrupted run."""
    bytes: int


def _file_name(gen: Generation) -> str:
    return f"{gen.created_at:%Y%m%d-%H%M%S}-{gen.id[:8]}.webp"


def _select(
    repo: GenerationsRepo, since: datetime | None, until: datetime | None
) -> list[Generation]:
    if since and until and since > until:
        raise InvalidInput("--since is after --until", hint="swap them")
    chosen = []
    for gen in repo.iter_all(page_size=MAX_PAGE):
        if until and gen.created_at > until:
            continue
        if since and gen.created_at < since:
            break  # newest first: everything after this is older still
        chosen.append(gen)
    return chosen


def _manifest(gens: list[Generation]) -> bytes:
    entries = [{**g.to_dict(), "file": _file_name(g)} for g in gens]
    return json.dumps({"generations": entries}, indent=2, ensure_ascii=False).encode()


def export_history(
    repo: GenerationsRepo,
    dest: Path,
    *,
    as_zip: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: ExportProgress | None = None,
    workers: int = 4,
) -> ExportResult:
    """Export the user's generations between ``since`` and ``until`` to ``dest``."""
    gens = [g for g in _select(repo, since, until) if g.is_stored]
    if as_zip:
        return _to_zip(repo, gens, dest, on_progress)
    return _to_folder(repo, gens, dest, on_progress, workers)


def _to_folder(
    repo: GenerationsRepo,
    gens: list[Generation],
    dest: Path,
    on_progress: ExportProgress | None,
    workers: int,
) -> ExportResult:
    dest.mkdir(parents=True, exist_ok=True)
    done = skipped = written = 0

    def fetch(gen: Generation) -> tuple[bool, int]:
        target = dest / _file_name(gen)
        if (
            target.is_file()
            and gen.image_sha256
            and hashlib.sha256(target.read_bytes()).hexdigest() == gen.image_sha256
        ):
            return False, 0
        data = repo.read_image(gen)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        return True, len(data)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for fetched, size in pool.map(fetch, gens):
            done += 1
            written += size
            skipped += 0 if fetched else 1
            if on_progress:
                on_progress(done, len(gens), written)
    (dest / "manifest.json").write_bytes(_manifest(gens))
    return ExportResult(dest, len(gens), skipped, written)


def _to_zip(
    repo: GenerationsRepo,
    gens: list[Generation],
    dest: Path,
    on_progress: ExportProgress | None,
) -> ExportResult:
    if dest.suffix != ".zip":
        dest = dest.with_suffix(".zip")
    partial = dest.with_name(dest.name + ".partial")
    present: set[str] = set()
    if partial.exists():
        try:
            with zipfile.ZipFile(partial) as existing:
                present = {i.filename for i in existing.infolist()}
        except zipfile.BadZipFile:
            partial.unlink()  # cut off mid-write: start again
    done = written = skipped = 0
    with zipfile.ZipFile(partial, "a", compression=zipfile.ZIP_STORED) as out:
        for gen in gens:
            name = _file_name(gen)
            if name in present:
                skipped += 1
            else:
                data = repo.read_image(gen)
                out.writestr(name, data)
                written += len(data)
            done += 1
            if on_progress:
                on_progress(done, len(gens), written)
        if "manifest.json" not in present:
            out.writestr("manifest.json", _manifest(gens))
    partial.replace(dest)
    return ExportResult(dest, len(gens), skipped, written)
