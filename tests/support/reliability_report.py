"""A pytest plugin that writes RELIABILITY.md from the run it watched.

    python -m pytest -p tests.support.reliability_report \
        --reliability-report RELIABILITY.md tests/reliability

Each row of the table is one test function of tests/reliability: the promise it
guards (its module's first docstring line), what it tried (its own docstring),
how many cases it ran (the counts the test recorded in its ``evidence`` while it
ran: hypothesis examples and steps, workers, kill points, inputs...), whether
the promise held (the test outcome) and how long it took. Nothing in the report
is written by hand: a test that did not run does not appear, and one that failed
says so with its assertion.
"""

from __future__ import annotations

import inspect
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SERVER_KEY"]

SERVER_KEY = pytest.StashKey[str]()
"""The database server the run used, described by the reliability conftest."""

MODULES = [
    "test_ownership_fuzz",
    "test_tokens_refused",
    "test_credits_under_load",
    "test_crashes",
    "test_bad_input",
    "test_account_deletion",
    "test_api_surface",
]
"""The order the promises are reported in (any other module comes last)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        metavar="PATH",
        default=None,
        help="Write a Markdown table of what the reliability tests tried and what held.",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--reliability-report")
    if path:
        config.pluginmanager.register(_Report(Path(path), config), "reliability-report")


@dataclass
class _Test:
    """What the run showed about one test function (all its parameters together)."""

    name: str
    promise: str
    tried: str
    order: int
    labels: list[str] = field(default_factory=list)
    runs: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split())


def _group(nodeid: str) -> str:
    return re.sub(r"\[.*\]$", "", nodeid)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class _Report:
    def __init__(self, path: Path, config: pytest.Config) -> None:
        self.path = path
        self.config = config
        self.tests: dict[str, _Test] = {}
        self.started = time.monotonic()
        self.evidence: dict[str, list[Any]] = defaultdict(list)
        self.outcome: dict[str, str] = {}
        self.reason: dict[str, str] = {}
        self.duration: dict[str, float] = defaultdict(float)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        def rank(item: pytest.Item) -> int:
            module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
            return MODULES.index(module) if module in MODULES else len(MODULES)

        ordered = sorted(enumerate(session.items), key=lambda pair: (rank(pair[1]), pair[0]))
        for order, (_, item) in enumerate(ordered):
            key = _group(item.nodeid)
            if key in self.tests or not isinstance(item, pytest.Function):
                continue
            module_doc = _first_paragraph(item.module.__doc__ if item.module else None)
            self.tests[key] = _Test(
                name=item.originalname,
                promise=module_doc.split(". ")[0].rstrip("."),
                tried=_first_paragraph(item.function.__doc__) or item.name,
                order=order,
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.duration[report.nodeid] += report.duration
        for name, value in report.user_properties:
            if name == "reliability" and all(value is not v for v in self.evidence[report.nodeid]):
                self.evidence[report.nodeid].append(value)
        if report.failed:
            self.outcome[report.nodeid] = "failed"
            crash = getattr(report.longrepr, "reprcrash", None)
            message = getattr(crash, "message", None) or str(report.longrepr).splitlines()[-1]
            self.reason.setdefault(report.nodeid, message.splitlines()[0][:300])
        elif report.skipped and report.nodeid not in self.outcome:
            self.outcome[report.nodeid] = "skipped"
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.reason[report.nodeid] = reason.removeprefix("Skipped: ")
        elif report.when == "call" and report.passed and report.nodeid not in self.outcome:
            self.outcome[report.nodeid] = "passed"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for nodeid, outcome in self.outcome.items():
            test = self.tests.get(_group(nodeid))
            if test is None:
                continue
            test.runs += 1
            test.seconds += self.duration[nodeid]
            label = nodeid[len(_group(nodeid)) :].strip("[]") or "test"
            test.labels.append(label)
            if outcome == "passed":
                test.passed += 1
            elif outcome == "failed":
                test.failed.append(f"{label}: {self.reason.get(nodeid, 'failed')}")
            else:
                test.skipped.append(f"{label}: {self.reason.get(nodeid, 'skipped')}")
            for found in self.evidence[nodeid]:
                for what, n in found.counts.items():
                    test.counts[what] = test.counts.get(what, 0) + n
                for note in found.notes:
                    if note not in test.notes:
                        test.notes.append(note)
        self.path.write_text(self._markdown(exitstatus))

    def _markdown(self, exitstatus: int) -> str:
        from tests.support import reliability as support

        ran = sorted((t for t in self.tests.values() if t.runs), key=lambda t: t.order)
        passed = sum(t.passed for t in ran)
        failed = sum(len(t.failed) for t in ran)
        skipped = sum(len(t.skipped) for t in ran)
        server = self.config.stash.get(SERVER_KEY, "not recorded")
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = " ".join(["pytest", *self.config.invocation_params.args])
        promises: dict[str, list[_Test]] = {}
        for t in ran:
            promises.setdefault(t.promise, []).append(t)
        lines = [
            "# Reliability report",
            "",
            "Written by `scripts/reliability` (the pytest plugin"
            " `tests/support/reliability_report.py`) from the run it describes: every count"
            " below was recorded by the tests while they ran, and every verdict is the test's"
            " own outcome.",
            "",
            f"- Run: {when}, {time.monotonic() - self.started:.0f} s,"
            f" pytest exit status {exitstatus} (`{command}`)",
            f"- Database server: {server}",
            f"- Sizes: {support.EXAMPLES} hypothesis examples per property,"
            f" {support.STEPS} steps per stateful example, {support.THREADS} library threads,"
            f" {support.PROCESSES} `gen create` processes",
            f"- Outcome: {passed} passed, {failed} failed, {skipped} skipped"
            " (test runs; each parameter is a run)",
            "",
            "| Promise | Tests | Runs | Passed | Failed |",
            "| --- | --- | --- | --- | --- |",
        ]
        for promise, tests in promises.items():
            lines.append(
                f"| {_cell(promise)} | {len(tests)} | {sum(t.runs for t in tests)}"
                f" | {sum(t.passed for t in tests)} | {sum(len(t.failed) for t in tests)} |"
            )
        for promise, tests in promises.items():
            lines += [
                "",
                f"## {promise}",
                "",
                "| Test | What was tried | Cases | Held | Time |",
                "| --- | --- | --- | --- | --- |",
            ]
            for t in tests:
                lines.append(
                    f"| `{t.name}` | {_cell(t.tried)} | {_cell(self._cases(t))}"
                    f" | {self._held(t)} | {t.seconds:.1f} s |"
                )
        problems = [t for t in ran if t.failed]
        if problems:
            lines += ["", "## What did not hold", ""]
            for t in problems:
                lines.append(f"- `{t.name}`")
                lines += [f"  - `{_cell(f)}`" for f in t.failed]
        skips = [t for t in ran if t.skipped]
        if skips:
            lines += ["", "## Skipped", ""]
            lines += [f"- `{t.name}`: {_cell(s)}" for t in skips for s in t.skipped]
        notes = [n for t in ran for n in t.notes]
        if notes:
            lines += ["", "## Observed while testing", ""]
            lines += [f"- {_cell(n)}" for n in notes]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _cases(t: _Test) -> str:
        counts = ", ".join(f"{n:,} {what}" for what, n in t.counts.items())
        runs = ""
        if t.runs > 1:
            shown = ", ".join(t.labels[:8]) + (", ..." if len(t.labels) > 8 else "")
            runs = f"{t.runs} runs ({shown})"
        return "; ".join(x for x in (counts, runs) if x) or "1 run"

    @staticmethod
    def _held(t: _Test) -> str:
        if t.failed:
            return f"**NO** ({len(t.failed)} of {t.runs} failed)"
        if t.skipped and not t.passed:
            return "skipped"
        if t.skipped:
            return f"yes ({t.passed} of {t.runs}; {len(t.skipped)} skipped)"
        return "yes"
