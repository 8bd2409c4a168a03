"""What a benchmark section found: figures, targets, plans and facts.

Sections return a :class:`Section`; the report renders it. ``facts`` are the
correctness checks a section made on the way (row counts, a balanced ledger,
which index a plan used), kept so that tests can assert them without looking at
any timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks._stats import Figure, Ratio

__all__ = ["Row", "Section", "Target", "at_most", "ms"]


def ms(seconds: float) -> str:
    """Milliseconds, to a sensible precision."""
    value = seconds * 1000
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


@dataclass(frozen=True)
class Target:
    """A promise a figure is held to."""

    text: str
    met: bool


def at_most(value: float, limit: float, text: str) -> Target:
    return Target(text, value <= limit)


@dataclass
class Row:
    """One line of a section's table."""

    name: str
    figure: Figure | None = None
    value: str | None = None
    target: Target | None = None
    note: str = ""
    headline: bool = False
    """Whether the summary table at the top of the report lists it."""

    @property
    def shown(self) -> str:
        """The figure as the report prints it: median (p10 to p90), or the value."""
        if self.figure is not None:
            f = self.figure
            fmt: Callable[[float], str] = ms if f.unit == "s" else _plain(f.unit)
            return f"{fmt(f.median)} ({fmt(f.p10)} to {fmt(f.p90)}, n={f.n})"
        return self.value or ""


def _plain(unit: str) -> Callable[[float], str]:
    return lambda v: f"{v:.2f}{unit}" if unit == "x" else f"{v:,.1f} {unit}"


@dataclass
class Section:
    """The figures of one part of the report."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def ratio(
        self,
        name: str,
        ratio: Ratio,
        *,
        target: float | None = None,
        target_text: str = "",
        headline: bool = False,
        note: str = "",
    ) -> Row:
        """A row for a side-by-side ratio: the ratio of the medians, and the
        spread of the run-by-run ratios."""
        value = (
            f"{ratio.of_medians:.2f}x ({ms(ratio.a.median)} vs {ms(ratio.b.median)};"
            f" run by run {ratio.per_run.p10:.2f}x to {ratio.per_run.p90:.2f}x, n={ratio.a.n})"
        )
        return self.add(
            Row(
                name,
                value=value,
                target=None if target is None else Target(target_text, ratio.of_medians <= target),
                headline=headline,
                note=note,
            )
        )
