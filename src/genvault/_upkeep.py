"""Database upkeep as the owner: migrations, their status, schema checks, debugging queries.

`gen db` and `gen doctor` use these over a direct connection (the embedded
server, DATABASE_URL, or a hosted project's direct connection string). The
migrations themselves are :mod:`genvault._migrate`'s; this module reads what
was applied, runs a script a statement at a time, and says what it found.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genvault._exceptions import BackendUnreachable, GenvaultError

if TYPE_CHECKING:
    from genvault._migrate import MigrationResult
    from genvault._settings import Settings

__all__ = ["DebugResult", "MigrationStatus", "Upkeep", "split_sql"]


@dataclass(frozen=True)
class MigrationStatus:
    """Which of genvault's migrations a database has, and which changed since."""

    applied: int
    """How many files are recorded as applied."""
    pending: list[str]
    """Files that apply here but are not applied yet."""
    changed: list[str]
    """Applied files whose text changed since."""
    append_only: bool
    """Whether a changed file is drift (from 1.0 on) rather than a new version to apply."""


@dataclass
class DebugResult:
    """One statement of a script and what it returned."""

    title: str
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None


class Upkeep:
    """Owner-level upkeep of the database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def embedded(cls, settings: Settings) -> Upkeep:
        """The embedded server of ``settings``, started if needed but not migrated,
        so that :meth:`migrate` reports what it applies."""
        from genvault._embedded import embedded_url

        return cls(embedded_url(settings.home))

    def migrate(self) -> list[MigrationResult]:
        """Apply the migrations not applied yet (safe to repeat); one result per file."""
        from genvault._migrate import migrate

        return migrate(self.url)

    def verify(self) -> list[tuple[str, bool, str]]:
        """The schema checks of verify.sql: (check, passed, detail) for each."""
        from genvault._migrate import verify

        return verify(self.url)

    def status(self) -> MigrationStatus:
        """What is applied, pending and changed, without applying anything."""
        from genvault._migrate import APPEND_ONLY, MIGRATIONS, sql_dir

        recorded = self._recorded()
        folder = sql_dir()
        pending = [
            m.name
            for m in MIGRATIONS
            if m.name not in recorded and not m.plain_postgres_only and not m.needs_storage
        ]
        changed = [
            name
            for name, checksum in recorded.items()
            if (folder / name).is_file()
            and hashlib.sha256((folder / name).read_text().encode()).hexdigest() != checksum
        ]
        return MigrationStatus(len(recorded), pending, changed, APPEND_ONLY)

    def _recorded(self) -> dict[str, str]:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn:
                exists = conn.execute(
                    "select to_regclass('genvault_meta.migrations') is not null"
                ).fetchone()
                if not exists or not exists[0]:
                    return {}
                rows = conn.execute("select name, checksum from genvault_meta.migrations")
                return {str(name): str(checksum) for name, checksum in rows.fetchall()}
        except psycopg.OperationalError as exc:
            raise _unreachable(exc) from exc

    def server_version(self) -> str:
        """The server's version, read over a new connection: proof that it answers."""
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn:
                row = conn.execute("show server_version").fetchone()
        except psycopg.Error as exc:
            raise _unreachable(exc) from exc
        return str(row[0]) if row else "?"

    @staticmethod
    def debug_file() -> Path:
        """Where the read-only debugging queries are (to paste into an SQL editor)."""
        from genvault._migrate import sql_dir

        path = sql_dir() / "debug_queries.sql"
        if not path.is_file():
            raise GenvaultError(
                f"{path} is missing from this installation", hint="reinstall genvault"
            )
        return path

    def debug_queries(self) -> list[DebugResult]:
        """Run debug_queries.sql (see :meth:`run_script`)."""
        return self.run_script(self.debug_file().read_text())

    def run_script(self, script: str) -> list[DebugResult]:
        """Run each statement in its own read-only transaction, rolled back afterwards."""
        import psycopg

        results: list[DebugResult] = []
        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn:
                conn.read_only = True
                conn.execute("set statement_timeout = '30s'")
                conn.commit()
                for chunk in split_sql(script):
                    result = DebugResult(title=_title_of(chunk), sql=_code_of(chunk))
                    try:
                        with conn.cursor() as cur:
                            cur.execute(result.sql.encode())
                            if cur.description is not None:
                                result.columns = [d.name for d in cur.description]
                                result.rows = [list(r) for r in cur.fetchall()]
                    except psycopg.Error as exc:
                        result.error = (exc.diag.message_primary or str(exc)).strip()
                    conn.rollback()
                    results.append(result)
        except psycopg.OperationalError as exc:
            raise BackendUnreachable(f"could not connect to the database: {exc}") from exc
        return results


def _unreachable(exc: Exception) -> BackendUnreachable:
    return BackendUnreachable(
        f"could not connect: {str(exc).strip()}",
        hint="check DATABASE_URL and that the server is running",
    )


_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_sql(text: str) -> list[str]:
    """Split a SQL script into statements, each with the comments before it.

    Semicolons inside quotes, dollar-quoted bodies and comments do not split.
    Chunks with no SQL left after removing comments are dropped.
    """
    chunks: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text[i] in "'\"":
            i = _after_quoted(text, i)
        elif text[i] == "$" and (match := _DOLLAR.match(text, i)):
            end = text.find(match.group(0), match.end())
            i = n if end < 0 else end + len(match.group(0))
        elif text[i] == ";":
            chunks.append(text[start : i + 1])
            start = i = i + 1
        else:
            i += 1
    chunks.append(text[start:])
    return [c.strip() for c in chunks if _code_of(c)]


def _after_quoted(text: str, i: int) -> int:
    """Where the quoted string or name starting at ``i`` ends (a doubled quote stays in)."""
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            break
        i += 1
    return i + 1


_LEADING_COMMENT = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)", re.DOTALL)


def _code_of(chunk: str) -> str:
    """The statement without the comments before it and without its semicolon."""
    code = chunk
    while match := _LEADING_COMMENT.match(code):
        if not match.group(0):
            break
        code = code[match.end() :]
    return code.strip().rstrip(";").strip()


def _title_of(chunk: str) -> str:
    """The first sentence of the comment paragraph just above the statement."""
    paragraph: list[str] = []
    for line in chunk.strip().splitlines():
        stripped = line.strip()
        if not stripped:
            paragraph = []
            continue
        if not stripped.startswith("--"):
            break
        words = stripped[2:].strip()
        if words and not re.fullmatch(r"[-=*#\s]+", words):
            paragraph.append(words)
    text = " ".join(paragraph)
    if not text:
        return " ".join(_code_of(chunk).split())[:70]
    sentence = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= 90 else sentence[:89] + "…"
