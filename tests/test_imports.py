"""The command line and the web gallery use the library through its one door: the
names ``genvault`` exports. Each may also use its own modules; nothing else of
``genvault`` that is private (a module or a name starting with ``_``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import genvault

SRC = Path(genvault.__file__).parent
FACES = {"cli": SRC / "cli", "web": SRC / "web"}


def private_imports(source: str, face: str) -> list[str]:
    """The imports in ``source`` (a module of ``genvault.<face>``) that pass the door."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if not _allowed(a.name, face)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _allowed(node.module, face):
                found.append(node.module)
            elif node.module == "genvault":
                found += [f"genvault.{a.name}" for a in node.names if a.name not in _PUBLIC]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append("." * node.level + (node.module or ""))  # write what is meant
    return found


_PUBLIC = {*genvault.__all__, "__version__"}


def _allowed(module: str, face: str) -> bool:
    parts = module.split(".")
    if parts[0] != "genvault" or module == "genvault":
        return True
    if parts[1] == face:
        return True  # the face's own modules
    return parts[1:] == ["web"]  # `gen ui` starts the gallery through its public function


@pytest.mark.parametrize("face", sorted(FACES))
def test_cli_and_web_import_only_the_public_api(face: str) -> None:
    modules = sorted(FACES[face].glob("*.py"))
    assert modules
    crossings = {
        str(path.relative_to(SRC)): bad
        for path in modules
        if (bad := private_imports(path.read_text(), face))
    }
    assert crossings == {}


def test_every_public_name_resolves() -> None:
    for name in genvault.__all__:
        assert getattr(genvault, name) is not None, name


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from genvault._client import Client", ["genvault._client"]),
        ("import genvault._validate", ["genvault._validate"]),
        ("from genvault import _validate", ["genvault._validate"]),
        ("from genvault import Client, _paging", ["genvault._paging"]),
        ("from genvault.web._base import Pages", ["genvault.web._base"]),
        ("from . import _render", ["."]),
        ("def f():\n    from genvault._migrate import migrate", ["genvault._migrate"]),
    ],
)
def test_the_check_catches_each_way_in(source: str, bad: list[str]) -> None:
    assert private_imports(source, "cli") == bad


def test_the_check_lets_the_door_and_a_face_s_own_modules_through() -> None:
    source = (
        "import typer\nfrom genvault import Client, MAX_PAGE, __version__\n"
        "from genvault.cli._render import Output\nfrom genvault.web import create_app\n"
    )
    assert private_imports(source, "cli") == []
