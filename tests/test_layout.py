"""The tests keep their own layout: what they share is in tests/support, and no test
module or conftest imports a test module or a conftest.

A test module that imports another runs that module's fixtures and collection
side effects where nobody looks for them, and breaks when the other is moved;
a conftest imported as a module is loaded twice under two names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "support"


def _package_of(path: Path) -> str:
    """The dotted package a file under tests/ belongs to (``tests.reliability``)."""
    return ".".join(path.relative_to(TESTS.parent).parent.parts)


def imported_modules(source: str, package: str) -> Iterator[str]:
    """Every dotted name an import in ``source`` reaches, relative ones resolved
    against ``package``; ``from a import b`` gives both ``a`` and ``a.b``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def is_test_module(name: str) -> bool:
    """Whether a dotted name is a test module or a conftest of this suite."""
    parts = name.split(".")
    return parts[0] == "tests" and any(
        part == "conftest" or part.startswith("test_") for part in parts[1:]
    )


def _checked_files() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def test_no_module_of_the_suite_imports_a_test_module_or_a_conftest() -> None:
    files = _checked_files()
    assert TESTS / "conftest.py" in files
    assert TESTS / "reliability" / "conftest.py" in files
    offenders = {
        f"{path.relative_to(TESTS.parent)} imports {name}"
        for path in files
        for name in imported_modules(path.read_text(encoding="utf-8"), _package_of(path))
        if is_test_module(name)
    }
    assert not offenders, sorted(offenders)


def test_everything_shared_lives_in_tests_support() -> None:
    """Outside tests/support a .py file is a test module, a conftest or a package marker."""
    stray = [
        str(path.relative_to(TESTS.parent))
        for path in _checked_files()
        if SUPPORT not in path.parents
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
    ]
    assert stray == []


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ("from tests.conftest import User", "tests"),
        ("import tests.test_hosted", "tests"),
        ("from tests import test_hosted", "tests"),
        ("from tests.test_ownership_sql import FUNCTION_CASES as CASES", "tests"),
        ("from tests.reliability import conftest", "tests"),
        ("from .test_crashes import Machine", "tests.reliability"),
        ("from ..conftest import User", "tests.reliability"),
        ("from . import conftest", "tests"),
        ("def f():\n    from tests.test_web import csrf\n", "tests"),
    ],
)
def test_the_check_sees_every_form_of_such_an_import(source: str, package: str) -> None:
    assert any(is_test_module(name) for name in imported_modules(source, package))


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ("from tests.support.users import User, create_user", "tests"),
        ("from tests.support import reliability as support", "tests"),
        ("from .support import hosted", "tests"),
        ("import pytest\nfrom genvault import Client", "tests.reliability"),
        ("from testing.test_utils import x", "tests"),
    ],
)
def test_the_check_lets_support_and_outside_imports_through(source: str, package: str) -> None:
    assert not any(is_test_module(name) for name in imported_modules(source, package))
