"""Running the ``gen`` command as a user would: timed, with its peak memory.

Each run is started by a small launcher process rather than by the benchmark
itself. The kernel counts a child's peak resident memory from the moment it is
forked, before it becomes ``gen``, so a child of the benchmark (which holds a
few hundred MB by the time it exports) would report the benchmark's size
instead of its own. The launcher is a bare Python: the size it hands down is a
few MB, well under that of any ``gen`` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finished", "cli_env", "gen_command", "run_command", "run_gen"]

_SCRUB = ("GENVAULT_", "SUPABASE_", "REPLICATE_", "DATABASE_URL", "NO_COLOR")

# Runs the command, waits for it with wait4 (that child's own rusage) and
# prints the exit code, the wall time and the peak resident memory as JSON.
_LAUNCHER = """
import json, os, subprocess, sys, time
command, out_path, err_path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(out_path, "wb") as out, open(err_path, "wb") as err:
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=out, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "seconds": seconds,
                  "peak_kb": usage.ru_maxrss}))
"""


@dataclass(frozen=True)
class Finished:
    """One finished ``gen`` run."""

    returncode: int
    seconds: float
    """Wall time from starting the process to its exit."""
    peak_rss_mb: float
    """The process's peak resident memory (its own ru_maxrss)."""
    stdout: str
    stderr: str


def gen_command() -> list[str]:
    """The installed ``gen`` script beside this Python, else ``python -m genvault.cli``."""
    script = Path(sys.executable).with_name("gen")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "genvault.cli"]


def cli_env(home: Path, database_url: str | None) -> dict[str, str]:
    """The environment of a user's shell: genvault's data under ``home``, the
    embedded server unless ``database_url`` is given, and no other genvault setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env["GENVAULT_HOME"] = str(home)
    env["COLUMNS"] = "120"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_gen(args: list[str], env: dict[str, str], *, cwd: Path) -> Finished:
    """Run ``gen args`` through the launcher and wait for it."""
    return run_command([*gen_command(), *args], env, cwd=cwd)


def run_command(command: list[str], env: dict[str, str], *, cwd: Path) -> Finished:
    """Run ``command`` through the launcher and wait for it."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, json.dumps(command), out, err],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(launched.stdout)
        return Finished(
            returncode=int(result["code"]),
            seconds=float(result["seconds"]),
            peak_rss_mb=int(result["peak_kb"]) / 1024,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
        )
