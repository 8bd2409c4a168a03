"""The installed `gen` script as people run it: a process of its own, in a pipe or a terminal."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from genvault.cli._render import inline_image, inline_protocol
from tests.support.cli import GEN_SCRIPT, Gen, as_url, normalise, run_script, script_env

HEAVY = ("supabase", "replicate", "psycopg", "psycopg_pool", "PIL", "httpx", "jwt", "pgserver")


def _imported(stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "genvault.cli", "--help"],
        [str(GEN_SCRIPT), "--help"],
        [str(GEN_SCRIPT), "create", "--help"],
        [str(GEN_SCRIPT), "admin", "purge", "--help"],
    ],
)
def test_help_imports_nothing_heavy(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: " in done.stdout
    modules = _imported(done.stderr)
    assert "typer" in modules  # the parse worked: the list is not empty by accident
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m == "genvault._client")
    assert heavy == []


def test_shell_completion() -> None:
    # Name the shell instead of detecting it from the parent processes, which
    # finds none when the suite runs outside a shell (a service, a detached job).
    script = run_script(
        "--show-completion",
        "bash",
        env=script_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
    )
    assert script.returncode == 0
    assert "_gen_completion" in script.stdout
    bash = "complete_bash"
    ratios = run_script(
        env=script_env(
            _GEN_COMPLETE=bash, COMP_CWORD="4", COMP_WORDS="gen create 'a fox' --aspect-ratio 16"
        )
    )
    assert ratios.stdout.split() == ["16:9"]
    commands = run_script(
        env=script_env(_GEN_COMPLETE=bash, COMP_CWORD="2", COMP_WORDS="gen admin p")
    )
    assert sorted(commands.stdout.split()) == ["popular", "purge", "purge-trash"]


def test_embedded_default_end_to_end(tmp_path: Path) -> None:
    """No DATABASE_URL at all: genvault starts its own PostgreSQL under GENVAULT_HOME."""
    from genvault._embedded import stop_embedded

    home = tmp_path / "vault"
    env = script_env(GENVAULT_HOME=str(home))
    assert "DATABASE_URL" not in env
    try:
        migrated = run_script("db", "migrate", "--json", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert {m["name"]: m["status"] for m in json.loads(migrated.stdout)} == {
            "supabase_compat.sql": "applied",
            "credits.sql": "applied",
            "generations.sql": "applied",
            "monitoring.sql": "applied",
            "storage.sql": "applied",
            "history_at_scale.sql": "applied",
            "organising.sql": "applied",
            "storage_sharing.sql": "applied",
        }
        login = run_script("login", "--local", "alice", env=env)
        assert login.returncode == 0, login.stderr
        assert login.stderr == (
            f"signed in as alice@local.genvault (local user on the embedded PostgreSQL in "
            f"{home / 'postgres'})\n"
        )
        created = run_script("create", "a red fox", env=env)
        assert created.returncode == 0, created.stderr
        assert normalise(created.stdout, home) == (
            "created <ID> in <S>s\n"
            "  stored at file://<HOME>/images/<ID>/<SHA>.webp\n"
            "credits: 10 → 9\n"
        )
        # Into a pipe: plain lines, no spinner, no colour, no cursor movement.
        assert created.stderr == (
            "generating 1 image with genvault/offline · 1:1 · 10 credits\n"
            "queued: credit reserved\n"
            "running: drawing offline\n"
            "saving: storing the image\n"
        )
        listed = run_script("list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert normalise(listed.stdout) == (
            "id         date               prompt      model\n"
            "──────────────────────────────────────────────────────────\n"
            "<ID8>   <TIME>   a red fox   genvault/offline\n"
        )
        assert listed.stderr == ""
        assert (home / "postgres" / "PG_VERSION").is_file()
    finally:
        stop_embedded(home)


@pytest.fixture
def signed_in(database_url: str, isolated_env: Path) -> tuple[Gen, dict[str, str]]:
    """An in-process `gen` signed in as a new user, and the env for a subprocess of it."""
    gen = Gen(database_url, isolated_env / "genvault")
    gen.login()
    return gen, script_env(DATABASE_URL=as_url(database_url))


def test_open_uses_the_viewer(signed_in: tuple[Gen, dict[str, str]], tmp_path: Path) -> None:
    gen, env = signed_in
    record = gen.create("a red fox")
    opened = tmp_path / "opened.txt"
    viewer = tmp_path / "viewer"
    viewer.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {shlex.quote(str(opened))}\n')
    viewer.chmod(0o755)
    done = run_script("open", record["id"][:8], env={**env, "BROWSER": str(viewer)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"opened {record['url']}\n"
    assert opened.read_text() == record["url"]
    made = run_script("create", "a fox to look at", "--open", env={**env, "BROWSER": str(viewer)})
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[1] == f"  stored at {opened.read_text()}"
    headless = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    refused = run_script("open", record["id"], env=headless)
    if sys.platform.startswith("linux"):
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: found no viewer to open the image with\n")


def test_ctrl_c_is_not_a_traceback(signed_in: tuple[Gen, dict[str, str]]) -> None:
    import signal

    _, env = signed_in
    # `gen account delete` waits for an answer: interrupt it there.
    process = subprocess.Popen(
        [str(GEN_SCRIPT), "account", "delete"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    seen = ""
    while "[y/N]" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in seen + rest


def test_inline_image_protocols() -> None:
    assert inline_protocol({"TERM": "xterm-kitty"}) == "kitty"
    assert inline_protocol({"TERM_PROGRAM": "iTerm.app"}) == "iterm2"
    assert inline_protocol({"TERM_PROGRAM": "WezTerm"}) == "iterm2"
    assert inline_protocol({"TERM": "xterm-256color"}) is None
    png = b"\x89PNG" + b"x" * 7000
    iterm = inline_image(png, "iterm2")
    assert iterm.startswith(f"\x1b]1337;File=inline=1;size={len(png)};")
    assert iterm.endswith("\x07\n")
    kitty = inline_image(png, "kitty")
    chunks = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", kitty)
    assert [c[0] for c in chunks] == ["a=T,f=100,c=40,m=1", "m=1", "m=0"]
    assert all(len(c[1]) <= 4096 for c in chunks)


# -- a real terminal ---------------------------------------------------------------------


class Tmux:
    """A private tmux server with one 120x30 window."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"gen-test-{secrets.token_hex(4)}"
        self.env = env
        self.path: Path | None = None

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self) -> None:
        self("new-session", "-d", "-x", "120", "-y", "30", "-s", "gen", "/bin/sh")
        self.path = Path(self("display-message", "-p", "#{socket_path}").strip())

    def type(self, line: str) -> None:
        self("send-keys", "-t", "gen", line, "Enter")

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "gen")

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if len(re.findall(pattern, screen)) > after:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} did not appear; the screen shows:\n{screen}")

    def clear(self) -> None:
        self.type("clear")
        time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@pytest.fixture
def tmux(signed_in: tuple[Gen, dict[str, str]]) -> Iterator[Tmux]:
    _, env = signed_in
    terminal_env = {k: v for k, v in env.items() if k not in ("NO_COLOR", "COLUMNS")}
    terminal = Tmux({**terminal_env, "TERM": "xterm-256color", "SHELL": "/bin/sh", "PS1": "$ "})
    try:
        terminal.start()
        yield terminal
    finally:
        terminal.kill()


def _exists(database_url: str, generation_id: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from public.user_generations where id = %s", (generation_id,)
        ).fetchone()
    return bool(row and row[0])


def test_delete_confirmation_in_a_terminal(
    signed_in: tuple[Gen, dict[str, str]], tmux: Tmux, database_url: str
) -> None:
    gen, _ = signed_in
    target = gen.create("a fox to delete")["id"]
    command = f"{shlex.quote(str(GEN_SCRIPT))} delete --permanent {target[:8]}"

    tmux.type(command)
    screen = tmux.wait_for(r"\[y/N\]:")
    assert "a fox to delete" in screen
    tmux.type("n")
    tmux.wait_for("nothing was deleted")
    assert _exists(database_url, target)

    tmux.clear()
    tmux.type(command)
    tmux.wait_for(r"\[y/N\]:")
    tmux.type("y")
    screen = tmux.wait_for(f"deleted   {target}")
    assert not _exists(database_url, target)
    assert "Traceback" not in screen


def test_create_and_export_in_a_terminal(tmux: Tmux, tmp_path: Path) -> None:
    """The spinner and the progress bar run on a terminal and leave the result behind."""
    gen_path = shlex.quote(str(GEN_SCRIPT))
    tmux.type(f"{gen_path} create 'a fox in a terminal' --num 2")
    screen = tmux.wait_for(r"credits: \d+ → \d+")
    assert screen.count("created ") == 2
    last = re.findall(r"created ([0-9a-f]{8})", screen)[-1]
    tmux.type(f"{gen_path} export {shlex.quote(str(tmp_path / 'out'))}")
    screen = tmux.wait_for(r"exported 2 images to")
    assert "Traceback" not in screen
    tmux.clear()
    tmux.type(f"TERM_PROGRAM=iTerm.app {gen_path} show {last}; echo shown-$?")
    screen = tmux.wait_for(r"shown-\d")
    assert "shown-0" in screen
    assert "open it with" not in screen  # the image was drawn inline instead
    tmux.type(f"{gen_path} show {last}; echo plain-$?")
    screen = tmux.wait_for(r"plain-\d")
    assert "plain-0" in screen
    assert f"open it with: gen open {last}" in screen
