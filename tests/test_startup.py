"""A local command starts light: no token, HTTP or Supabase libraries, and one check
of an embedded server that already runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.cli import Gen, as_url, normalise, run_script, script_env

# What only signed tokens and hosted projects need. pydantic is here too: genvault
# itself must not bring it in (Typer may, see _first_importer).
NOT_LOCAL = ("jwt", "cryptography", "httpx", "supabase", "postgrest", "storage3", "supabase_auth")

LISTED = (
    "id         date               prompt        model\n"
    + "─" * 60
    + "\n<ID8>   <TIME>   a local fox   genvault/offline\n"
)


def _import_tree(stderr: str) -> list[tuple[int, str]]:
    """(depth, module) of each line of `python -X importtime` output, in its order."""
    tree = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "[us]" not in line:
            name = line.rsplit("|", 1)[1]
            tree.append((len(name) - len(name.lstrip()), name.strip()))
    return tree


def _first_importer(tree: list[tuple[int, str]], module: str) -> str | None:
    """The outermost module whose import first brought ``module`` in (None: never)."""
    for i, (depth, name) in enumerate(tree):
        if name == module:
            outer = name
            for later_depth, later in tree[i + 1 :]:  # a parent is listed after its children
                if later_depth < depth:
                    outer, depth = later, later_depth
            return outer
    return None


def _list_with_importtime(
    env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`gen list` in a process of its own, reporting what it imported on stderr."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "genvault.cli", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _assert_light(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    tree = _import_tree(done.stderr)
    modules = {name for _, name in tree}
    assert {"psycopg", "genvault._backends", "genvault._signin"} <= modules  # it ran
    assert sorted(m for m in modules if m.split(".")[0] in NOT_LOCAL) == []
    importer = _first_importer(tree, "pydantic")
    assert importer is None or importer.startswith("typer"), importer


def test_a_direct_local_session_imports_no_token_or_hosted_library(
    database_url: str, isolated_env: Path
) -> None:
    gen = Gen(database_url, isolated_env / "genvault")
    gen.login()
    gen.create("a local fox")
    done = _list_with_importtime(script_env(DATABASE_URL=as_url(database_url)))
    _assert_light(done)
    assert normalise(done.stdout) == LISTED


def test_the_embedded_server_is_checked_once_and_not_migrated_again(tmp_path: Path) -> None:
    """Once its schema is current, a command neither waits for the migration lock
    nor loads a token library; it makes one connection to check, then its pool."""
    from genvault._embedded import ready_url, stop_embedded

    home = tmp_path / "vault"
    env = script_env(GENVAULT_HOME=str(home))
    try:
        assert run_script("login", "--local", "alice", env=env).returncode == 0
        assert run_script("create", "a local fox", env=env).returncode == 0
        with psycopg.connect(ready_url(home), autocommit=True) as holder:
            # migrate() takes this lock first: a command that migrated would wait here.
            holder.execute("select pg_advisory_lock(hashtext('genvault.migrate'))")
            done = _list_with_importtime(env, timeout=60)
        _assert_light(done)
        assert normalise(done.stdout) == LISTED
    finally:
        stop_embedded(home)


@pytest.mark.parametrize("name", ["jwt", "httpx"])
def test_the_import_check_sees_a_library_that_is_loaded(name: str) -> None:
    """The tree walk finds a module and what brought it in, so its silence means something."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import genvault._tokens, {name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tree = _import_tree(done.stderr)
    assert _first_importer(tree, name) == name
    assert _first_importer(tree, "genvault._tokens") == "genvault._tokens"
    assert _first_importer(tree, "no_such_module") is None
