"""`gen doctor`: check the setup step by step, one line per check with the fix."""

import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import typer
from rich.text import Text

from genvault import GenvaultError
from genvault.cli._context import JsonOpt, State, backend_description, state
from genvault.cli._render import plain_table

if TYPE_CHECKING:
    from genvault import Client, Settings, Upkeep

__all__ = ["Check", "app"]

app = typer.Typer()

Status = Literal["pass", "fail", "skip"]


@dataclass
class Check:
    """One line of the report."""

    check: str
    status: Status
    detail: str
    fix: str = ""


_HOSTED_SCHEMA = "hosted project: run database/verify.sql in the SQL editor, or set DATABASE_URL"


class _Doctor:
    def __init__(self, st: State) -> None:
        self.st = st
        self.checks: list[Check] = []
        self.settings: Settings | None = None
        self.client: Client | None = None
        self.upkeep: Upkeep | None = None
        self.user_id: str | None = None
        self.token: str | None = None

    def run(self, name: str, check: Callable[[], Check], *, needs: tuple[str, ...] = ()) -> None:
        missing = [n for n in needs if not self._passed(n)]
        if missing:
            self.checks.append(Check(name, "skip", f"needs a working {missing[0]} first"))
            return
        try:
            result = check()
        except GenvaultError as exc:
            result = Check(name, "fail", exc.message, exc.hint or "")
        except OSError as exc:
            result = Check(
                name, "fail", f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            )
        result.check = name
        self.checks.append(result)

    def _passed(self, name: str) -> bool:
        return any(c.check == name and c.status == "pass" for c in self.checks)

    # -- the checks ------------------------------------------------------------
    def check_settings(self) -> Check:
        self.settings = self.st.settings()
        self.client = self.st.client()
        return Check(
            "", "pass", f"profile {self.settings.profile} · {backend_description(self.settings)}"
        )

    def check_database(self) -> Check:
        assert self.settings is not None
        assert self.client is not None
        if self.settings.hosted:
            import httpx

            assert self.settings.supabase_url
            assert self.settings.supabase_key
            try:
                response = httpx.get(
                    f"{self.settings.supabase_url}/auth/v1/health",
                    headers={"apikey": self.settings.supabase_key},
                    timeout=10,
                )
            except httpx.HTTPError as exc:
                return Check(
                    "",
                    "fail",
                    f"{self.settings.supabase_url} is unreachable: {exc}",
                    "check SUPABASE_URL and your network connection",
                )
            if response.status_code in (401, 403):
                return Check(
                    "",
                    "fail",
                    f"the project refused the API key (HTTP {response.status_code})",
                    "set SUPABASE_ANON_KEY to the project's anon (publishable) key",
                )
            if response.status_code >= 400:
                return Check(
                    "",
                    "fail",
                    f"the project answered HTTP {response.status_code}",
                    "check SUPABASE_URL; is the project paused?",
                )
            return Check("", "pass", f"{self.settings.supabase_url} answers")
        from genvault import Upkeep

        with self.st.output.status("connecting to the database…"):
            self.upkeep = Upkeep(self.client.database_url())
        return Check("", "pass", f"PostgreSQL {self.upkeep.server_version()} answers")

    def check_signed_in(self) -> Check:
        assert self.client is not None
        session = self.client.session()
        if session is None:
            fix = "gen login" if self.client.settings.hosted else "gen login --local NAME"
            return Check("", "fail", "nobody is signed in on this profile", f"sign in with `{fix}`")
        balance = self.client.credits.balance()  # verifies (and refreshes) the token
        session = self.client.session() or session
        self.user_id = session.user_id
        self.token = session.access_token
        return Check(
            "", "pass", f"{session.email or session.user_id}, token accepted, {balance} credits"
        )

    def check_migrations(self) -> Check:
        if self.upkeep is None:
            return Check("", "skip", _HOSTED_SCHEMA)
        status = self.upkeep.status()
        if status.pending:
            return Check(
                "", "fail", f"not applied: {', '.join(status.pending)}", "run `gen db migrate`"
            )
        changed = ", ".join(status.changed)
        if changed and not status.append_only:
            return Check(
                "",
                "fail",
                f"changed since they were applied: {changed}",
                "run `gen db migrate` to apply the new versions",
            )
        if changed:
            return Check(
                "",
                "fail",
                f"changed after they were applied: {changed}",
                "migrations are append-only; restore the files and add a new migration",
            )
        return Check("", "pass", f"{status.applied} applied, none pending")

    def check_schema(self) -> Check:
        if self.upkeep is None:
            return Check("", "skip", _HOSTED_SCHEMA)
        results = self.upkeep.verify()
        failed = [f"{name}: {detail}" if detail else name for name, ok, detail in results if not ok]
        if failed:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return Check(
                "", "fail", failed[0] + more, "run `gen db migrate`, then `gen db verify` for all"
            )
        return Check("", "pass", f"all {len(results)} checks of tables, RLS and policies pass")

    def check_storage(self) -> Check:
        assert self.settings is not None
        if self.settings.storage_kind == "local":
            folder = self.settings.home / "images"
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".doctor-{os.getpid()}-{secrets.token_hex(4)}"
            probe.write_bytes(b"genvault doctor")
            probe.unlink()
            return Check("", "pass", f"local files in {folder}, writable")
        return self._hosted_storage_probe()

    def _hosted_storage_probe(self) -> Check:
        import httpx

        settings = self.settings
        assert settings is not None
        assert settings.supabase_url
        assert settings.supabase_key
        if self.user_id is None or self.token is None:
            return Check("", "skip", "needs a hosted sign-in first", "sign in with `gen login`")
        path = f"{self.user_id}/doctor-probe-{secrets.token_hex(6)}.webp"
        base = f"{settings.supabase_url}/storage/v1/object/{settings.bucket}"
        headers = {"apikey": settings.supabase_key, "Authorization": f"Bearer {self.token}"}
        try:
            put = httpx.post(
                f"{base}/{path}",
                content=b"RIFF\x00\x00\x00\x00WEBP",
                headers={**headers, "Content-Type": "image/webp", "x-upsert": "true"},
                timeout=20,
            )
            if put.status_code >= 400:
                return Check(
                    "",
                    "fail",
                    f"uploading a probe to bucket {settings.bucket} failed "
                    f"(HTTP {put.status_code})",
                    "apply database/storage.sql (bucket and its policies), then `gen db verify`",
                )
            removed = httpx.request(
                "DELETE", base, json={"prefixes": [path]}, headers=headers, timeout=20
            )
        except httpx.HTTPError as exc:
            return Check("", "fail", f"Storage is unreachable: {exc}", "check your network")
        if removed.status_code >= 400:
            return Check(
                "",
                "fail",
                f"the probe {path} was uploaded but could not be removed",
                "check the bucket's delete policy (database/storage.sql)",
            )
        return Check(
            "", "pass", f"bucket {settings.bucket}: probe uploaded to your folder and removed"
        )

    def check_model(self) -> Check:
        assert self.client is not None
        assert self.settings is not None
        model = self.client.model()
        if model.offline:
            return Check(
                "",
                "pass",
                f"offline stand-in model {model.name} in use "
                "(set REPLICATE_API_TOKEN for real images)",
            )
        import httpx

        try:
            response = httpx.get(
                f"{self.settings.replicate_base_url}/account",
                headers={"Authorization": f"Bearer {self.settings.replicate_token}"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            return Check("", "fail", f"Replicate is unreachable: {exc}", "check your network")
        if response.status_code in (401, 403):
            return Check(
                "",
                "fail",
                "Replicate refused the token",
                "set REPLICATE_API_TOKEN to a token from replicate.com/account/api-tokens",
            )
        if response.status_code >= 400:
            return Check(
                "", "fail", f"Replicate answered HTTP {response.status_code}", "try again later"
            )
        return Check("", "pass", f"{model.name} on Replicate, token accepted")


@app.command()
def doctor(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the setup: settings, database, sign-in, schema, storage, image model.

    Prints one line per check with the fix for each failure; exits with 1 when
    any check fails.
    """
    st = state(ctx)
    doc = _Doctor(st)
    doc.run("settings", doc.check_settings)
    doc.run("database", doc.check_database, needs=("settings",))
    doc.run("signed in", doc.check_signed_in, needs=("database",))
    doc.run("migrations", doc.check_migrations, needs=("database",))
    doc.run("schema & RLS", doc.check_schema, needs=("database",))
    doc.run("storage", doc.check_storage, needs=("settings",))
    doc.run("image model", doc.check_model, needs=("settings",))
    failed = [c for c in doc.checks if c.status == "fail"]
    out = st.output
    if as_json:
        out.json({"ok": not failed, "checks": [asdict(c) for c in doc.checks]})
    else:
        table = plain_table("", "check", "result")
        table.show_header = False
        marks = {
            "pass": Text("✓", style="green"),
            "fail": Text("✗", style="bold red"),
            "skip": Text("–", style="yellow"),
        }
        for c in doc.checks:
            result = Text(c.detail)
            if c.fix and c.status != "pass":
                result.append(f"\nfix: {c.fix}", style="bold" if c.status == "fail" else "dim")
            table.add_row(marks[c.status], c.check, result)
        out.out.print(table)
    if failed:
        if not as_json:
            out.error(
                f"{len(failed)} check{'s' if len(failed) > 1 else ''} failed: "
                + ", ".join(c.check for c in failed)
            )
        raise typer.Exit(1)
