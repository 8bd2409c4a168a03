"""What the reliability tests share: knobs, evidence for the report, the books of a user,
a faithful Supabase project double, and running the installed `gen` script.

The knobs come from the environment so that the regular test run stays quick and
``scripts/reliability`` can turn them up for the report:

* GENVAULT_RELIABILITY_EXAMPLES - hypothesis examples per property (default 40)
* GENVAULT_RELIABILITY_STEPS     - steps per stateful example (default 25)
* GENVAULT_RELIABILITY_PROCESSES - concurrent `gen create` processes (default 16)
* GENVAULT_RELIABILITY_THREADS   - concurrent library creates (default 64)
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from hypothesis import HealthCheck, settings
from PIL import Image

from genvault import Client, Settings
from tests.support.cli import GEN_SCRIPT, as_url, script_env
from tests.support.supabase_double import PUBLIC_KEY, SECRET_KEY, SupabaseDouble
from tests.support.users import TEST_JWT_SECRET, User

__all__ = [
    "EXAMPLES",
    "PROCESSES",
    "STEPS",
    "THREADS",
    "Books",
    "Evidence",
    "HostedProject",
    "assert_clean_cli_failure",
    "books",
    "fuzz_settings",
    "gen_env",
    "local_files",
    "login_local",
    "run_gen",
    "set_balance",
    "snapshot",
    "tiny_png",
    "wait_for",
]


def _knob(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


EXAMPLES = _knob("GENVAULT_RELIABILITY_EXAMPLES", 40)
STEPS = _knob("GENVAULT_RELIABILITY_STEPS", 25)
PROCESSES = _knob("GENVAULT_RELIABILITY_PROCESSES", 16)
THREADS = _knob("GENVAULT_RELIABILITY_THREADS", 64)


def fuzz_settings(**overrides: Any) -> settings:
    """Hypothesis settings for the reliability properties: no deadline (a database is
    involved), no example database in the working tree, sizes from the knobs above."""
    values: dict[str, Any] = {
        "max_examples": EXAMPLES,
        "stateful_step_count": STEPS,
        "deadline": None,
        "database": None,
        "print_blob": True,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    }
    values.update(overrides)
    return settings(**values)


# -- evidence for RELIABILITY.md ------------------------------------------------------


@dataclass
class Evidence:
    """What one test actually tried, counted while it ran (read by
    tests/support/reliability_report.py)."""

    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def set(self, what: str, n: int) -> None:
        self.counts[what] = n

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())


# -- the books of one user, as the database owner sees them ---------------------------


@dataclass(frozen=True)
class Books:
    """A user's money and history: balance, ledger, open reservations, rows and files."""

    balance: int | None
    ledger_sum: int
    ledger_entries: int
    open_reservations: int
    rows: dict[str, dict[str, Any]]
    files: set[str]

    def referenced(self) -> set[str]:
        return {
            p
            for r in self.rows.values()
            for p in (r["image_url"], r["thumbnail_url"])
            if p and "://" not in p
        }

    def assert_consistent(self) -> None:
        """The books balance, nothing is left open, and rows and files match one to one."""
        assert self.balance == self.ledger_sum, (self.balance, self.ledger_sum)
        assert self.open_reservations == 0, f"{self.open_reservations} reservations left open"
        missing = self.referenced() - self.files
        assert not missing, f"rows without their stored file: {sorted(missing)}"
        orphans = self.files - self.referenced()
        assert not orphans, f"stored files without a row: {sorted(orphans)}"


def local_files(images_root: Path) -> Callable[[str], set[str]]:
    """The stored paths of a user under a local image store."""

    def files(user_id: str) -> set[str]:
        folder = images_root / user_id
        if not folder.is_dir():
            return set()
        return {f"{user_id}/{p.name}" for p in folder.iterdir() if not p.name.startswith(".")}

    return files


def books(admin: psycopg.Connection[Any], user_id: str, files: Callable[[str], set[str]]) -> Books:
    """Read a user's books with the owner connection (which bypasses row level security)."""
    balance = admin.execute(
        "select credits from public.user_credits where user_id = %s", (user_id,)
    ).fetchone()
    ledger = admin.execute(
        "select coalesce(sum(delta), 0)::int as s, count(*)::int as n,"
        " count(*) filter (where reason = 'reserve' and not exists ("
        "   select from public.credit_ledger s where s.settles = l.id))::int as open"
        " from public.credit_ledger l where user_id = %s",
        (user_id,),
    ).fetchone()
    rows = admin.execute(
        "select id::text as id, prompt, image_url, thumbnail_url, updated_at, image_sha256"
        " from public.user_generations where user_id = %s",
        (user_id,),
    ).fetchall()
    assert ledger is not None
    return Books(
        balance=None if balance is None else int(balance["credits"]),
        ledger_sum=int(ledger["s"]),
        ledger_entries=int(ledger["n"]),
        open_reservations=int(ledger["open"]),
        rows={r["id"]: dict(r) for r in rows},
        files=files(user_id),
    )


def snapshot(
    admin: psycopg.Connection[Any], user_id: str, read: Callable[[str], dict[str, bytes]]
) -> dict[str, Any]:
    """Everything stored for a user, down to each ledger entry and the hash of each file:
    two equal snapshots mean nothing of that user was seen changed."""
    one = admin.execute
    return {
        "auth_user": one("select email from auth.users where id = %s", (user_id,)).fetchall(),
        "credits": one(
            "select credits, updated_at from public.user_credits where user_id = %s", (user_id,)
        ).fetchall(),
        "ledger": one(
            "select id, delta, reason, generation_id, settles, created_at"
            " from public.credit_ledger where user_id = %s order by id",
            (user_id,),
        ).fetchall(),
        "rows": one(
            "select * from public.user_generations where user_id = %s order by id", (user_id,)
        ).fetchall(),
        "files": {p: hashlib.sha256(b).hexdigest() for p, b in read(user_id).items()},
    }


def tiny_png(colour: tuple[int, int, int] = (90, 30, 160), size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


# -- a hosted project ------------------------------------------------------------------


class HostedProject:
    """A hosted Supabase project (the faithful double over the test database) and
    genvault clients for it, one per access token."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.double = SupabaseDouble(jwt_secret=TEST_JWT_SECRET, database_url=database_url)
        self.settings = Settings(
            home=home,
            supabase_url=self.double.url,
            supabase_key=PUBLIC_KEY,
            supabase_service_key=SECRET_KEY,
            bucket="generations",
        )
        self.http = httpx.Client(
            transport=self.double.transport(), timeout=httpx.Timeout(30.0, connect=10.0)
        )

    def client(self, token: str | None) -> Client:
        return Client(self.settings, access_token=token, http_client=self.http)

    def files(self, user_id: str) -> set[str]:
        return {name for (_, name) in list(self.double.files) if name.startswith(f"{user_id}/")}

    def read(self, user_id: str) -> dict[str, bytes]:
        return {
            name: stored.data
            for (_, name), stored in list(self.double.files.items())
            if name.startswith(f"{user_id}/")
        }

    def close(self) -> None:
        self.http.close()
        self.double.close()
        assert not self.double.violations, "\n".join(self.double.violations)


# -- the installed `gen` script --------------------------------------------------------


def gen_env(database_url: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `gen` process on the test database with its own data folder."""
    return script_env(
        DATABASE_URL=as_url(database_url),
        SUPABASE_JWT_SECRET=TEST_JWT_SECRET,
        GENVAULT_HOME=str(home),
        **extra,
    )


def run_gen(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GEN_SCRIPT), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def assert_clean_cli_failure(
    done: subprocess.CompletedProcess[str], *, code: int = 1, contains: str = ""
) -> str:
    """A refusal as the CLI promises it: nothing on stdout, no traceback, and on stderr
    exactly one ``error:`` line (a ``hint:`` and indented continuation lines may follow,
    progress notes may precede) and no other line that reports an error or a warning, nor
    raw PostgreSQL diagnostics (``HINT:  ``, ``CONTEXT:``).
    Usage errors (exit 2) are Typer's own box and must say "Invalid value" or similar.
    Returns the error line."""
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    noisy = [
        line
        for line in lines
        if line.lower().startswith(("error", "warning", "exception", "hint:  ", "context:"))
        and line not in errors[:1]
    ]
    problems = []
    if done.returncode != code:
        problems.append(f"exit code {done.returncode}, not {code}")
    if "Traceback" in done.stderr:
        problems.append("a traceback on stderr")
    if done.stdout.strip():
        problems.append(f"stdout is not empty: {done.stdout.strip()[:80]!r}")
    if code == 2:
        if contains.lower() not in done.stderr.lower():
            problems.append(f"the usage message does not say {contains!r}")
    else:
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines")
        if noisy:
            problems.append(f"other lines report errors or warnings: {noisy[0][:160]!r}")
        if errors and contains.lower() not in errors[0].lower():
            problems.append(f"the error line does not say {contains!r}: {errors[0][:160]!r}")
    assert not problems, "; ".join(problems) + f"\n--- stderr:\n{done.stderr}"
    return errors[0] if errors else done.stderr.strip()


def login_local(env: Mapping[str, str], admin: psycopg.Connection[Any], name: str) -> User:
    """`gen login --local NAME` in the data folder of ``env``; returns the user it made."""
    done = run_gen("login", "--local", name, env=env)
    assert done.returncode == 0, done.stderr
    row = admin.execute(
        "select id::text as id, email from auth.users where email = %s",
        (f"{name}@local.genvault",),
    ).fetchone()
    assert row is not None
    return User(row["id"], row["email"])


def set_balance(admin: psycopg.Connection[Any], user_id: str, credits: int) -> None:
    """Grant or take credits (through the ledger) until the balance is ``credits``."""
    admin.execute(
        "select public.grant_credits(%s, %s - credits) from public.user_credits"
        " where user_id = %s and credits <> %s",
        (user_id, credits, user_id, credits),
    )
