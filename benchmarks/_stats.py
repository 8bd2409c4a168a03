"""Timing: repeated runs after a warm-up, summarised as median and spread.

Every figure is the median of many runs, with the 10th and 90th percentiles
beside it. Two things compared with each other are measured side by side:
their runs alternate (A, B, A, B, ...), so that anything else happening on the
machine falls on both alike, and the ratio is given both as the ratio of the
medians and as the spread of the run-by-run ratios.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Figure", "Ratio", "measure", "measure_pair", "summarize"]


@dataclass(frozen=True)
class Figure:
    """A timed figure: seconds per run (or any other unit: see ``unit``)."""

    samples: tuple[float, ...]
    unit: str = "s"

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q < 1), interpolated between the nearest runs."""
        ordered = sorted(self.samples)
        if len(ordered) == 1:
            return ordered[0]
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    @property
    def p10(self) -> float:
        return self.quantile(0.10)

    @property
    def p90(self) -> float:
        return self.quantile(0.90)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "median": self.median, "p10": self.p10, "p90": self.p90}


@dataclass(frozen=True)
class Ratio:
    """How many times slower A is than B, from runs taken side by side."""

    a: Figure
    b: Figure
    per_run: Figure

    @property
    def of_medians(self) -> float:
        return self.a.median / self.b.median if self.b.median else float("inf")


def summarize(samples: list[float], unit: str = "s") -> Figure:
    if not samples:
        raise ValueError("no samples")
    return Figure(tuple(samples), unit)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(fn: Callable[[], Any], *, iterations: int, warmup: int) -> Figure:
    """Run ``fn`` ``warmup`` times untimed, then ``iterations`` times timed."""
    for _ in range(warmup):
        fn()
    gc.collect()
    return summarize([_timed(fn) for _ in range(iterations)])


def measure_pair(
    a: Callable[[], Any], b: Callable[[], Any], *, iterations: int, warmup: int
) -> Ratio:
    """Time ``a`` and ``b`` alternately; the ratio is A's time over B's."""
    for _ in range(warmup):
        a()
        b()
    gc.collect()
    times_a: list[float] = []
    times_b: list[float] = []
    for i in range(iterations):
        # Alternate which goes first, so neither always runs on a warmer cache.
        if i % 2:
            times_b.append(_timed(b))
            times_a.append(_timed(a))
        else:
            times_a.append(_timed(a))
            times_b.append(_timed(b))
    ratios = [x / y for x, y in zip(times_a, times_b, strict=True) if y > 0]
    return Ratio(summarize(times_a), summarize(times_b), summarize(ratios, unit="x"))
