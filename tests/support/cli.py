"""Helpers for the CLI tests: run `gen` in-process or as the installed script, and
normalise its output (ids, times, cursors, paths) so that whole outputs compare."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner, Result

from genvault.cli._app import app

GEN_SCRIPT = Path(sys.executable).parent / "gen"
WIDTH = "120"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA = re.compile(r"\b[0-9a-f]{64}\b")
_SHORT = re.compile(r"\b[0-9a-f]{8}\b")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECONDS = re.compile(r"\b\d+\.\ds\b")
_CURSOR = re.compile(r"--before [A-Za-z0-9_-]+")


def as_url(conninfo: str) -> str:
    """A postgresql:// URL for a connection string (DATABASE_URL must be a URL)."""
    if conninfo.startswith(("postgresql://", "postgres://")):
        return conninfo
    info = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    auth = quote(info.pop("user", ""), safe="")
    if "password" in info:
        auth += ":" + quote(info.pop("password"), safe="")
    host = info.pop("host", "")
    port = info.pop("port", None)
    dbname = quote(info.pop("dbname", ""), safe="")
    if host.startswith("/"):
        info["host"] = host
        if port:
            info["port"] = port
        netloc = ""
    else:
        netloc = host + (f":{port}" if port else "")
    query = f"?{urlencode(info)}" if info else ""
    return f"postgresql://{auth}@{netloc}/{dbname}{query}"


def normalise(text: str, home: Path | None = None) -> str:
    """Output with ids, hashes, times, cursors and the data folder replaced by labels."""
    if home is not None:
        text = text.replace(str(home.resolve()), "<HOME>").replace(str(home), "<HOME>")
    text = _CURSOR.sub("--before <CURSOR>", text)
    text = _UUID.sub("<ID>", text)
    text = _SHA.sub("<SHA>", text)
    text = _SHORT.sub("<ID8>", text)
    text = _MINUTE.sub("<TIME>", text)
    text = _DAY.sub("<DAY>", text)
    text = _SECONDS.sub("<S>s", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def describe(result: Result) -> str:
    return (
        f"exit code {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        f"\n--- exception\n{result.exception!r}"
    )


class Gen:
    """Runs `gen` in-process with CliRunner, against the test database."""

    def __init__(self, database_url: str | None, home: Path) -> None:
        self.runner = CliRunner()
        self.home = home
        self.env = {"COLUMNS": WIDTH, "LINES": "40"}
        if database_url is not None:
            self.env["DATABASE_URL"] = as_url(database_url)

    def __call__(self, *args: str, input: str | None = None, code: int | None = 0) -> Result:
        result = self.runner.invoke(app, list(args), input=input, env=self.env)
        if code is not None:
            assert result.exit_code == code, describe(result)
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        result = self(*args, "--json", code=code)
        assert result.stderr == "", describe(result)
        return json.loads(result.stdout)

    def login(self, name: str | None = None) -> str:
        """Sign in as a new local user; returns the user's email."""
        name = name or f"user-{secrets.token_hex(4)}"
        self("login", "--local", name)
        return f"{name}@local.genvault"

    def create(self, prompt: str, *args: str) -> dict[str, Any]:
        """Make one image; returns its JSON record."""
        made = self.json("create", prompt, *args)
        record: dict[str, Any] = made["generations"][0]
        return record

    def norm(self, text: str) -> str:
        return normalise(text, self.home)


def run_script(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `gen` console script."""
    return subprocess.run(
        [str(GEN_SCRIPT), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def script_env(**extra: str) -> dict[str, str]:
    """The test's (already isolated) environment for a subprocess, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update({"COLUMNS": WIDTH, "NO_COLOR": "1"})
    env.update(extra)
    return env
