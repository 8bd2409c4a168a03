"""Keyset paging, shared by every list: one row more than a page shows says whether
another follows, the last row shown is the cursor, and a walk meets every row once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genvault import MAX_PAGE, InvalidInput, Page
from genvault._paging import Cursor, fetch_page, walk

START = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: str
    created_at: datetime


ROWS = [
    {"id": f"00000000-0000-4000-8000-{n:012d}", "created_at": START - timedelta(minutes=n)}
    for n in range(7)
]


class Table:
    """Rows newest first, read the way the SQL functions read them; counts the calls."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def rows(self, size: int, cursor: Cursor | None) -> list[dict[str, Any]]:
        self.asked.append(size)
        mark = None if cursor is None else (cursor.created_at, cursor.id)
        return [r for r in ROWS if mark is None or (r["created_at"], r["id"]) < mark][:size]

    def page(self, limit: int, before: str | None) -> Page[Item]:
        return fetch_page(self.rows, lambda r: Item(**r), limit=limit, before=before)


def test_a_page_asks_for_one_row_more_and_marks_where_the_next_starts() -> None:
    table = Table()
    first = table.page(3, None)
    assert [i.id for i in first.items] == [r["id"] for r in ROWS[:3]]
    assert table.asked == [4]
    assert first.next_cursor is not None
    assert Cursor.decode(first.next_cursor) == Cursor(ROWS[2]["created_at"], ROWS[2]["id"])
    second = table.page(3, first.next_cursor)
    assert [i.id for i in second.items] == [r["id"] for r in ROWS[3:6]]
    last = table.page(3, second.next_cursor)
    assert [i.id for i in last.items] == [ROWS[6]["id"]]
    assert last.next_cursor is None


def test_a_page_that_exactly_ends_the_list_has_no_cursor() -> None:
    assert Table().page(7, None).next_cursor is None


def test_a_walk_meets_every_row_once_from_any_start() -> None:
    table = Table()
    assert [i.id for i in walk(lambda c: table.page(2, c))] == [r["id"] for r in ROWS]
    assert len(table.asked) == 4
    after_two = table.page(2, None).next_cursor
    assert [i.id for i in walk(lambda c: table.page(5, c), after_two)] == [
        r["id"] for r in ROWS[2:]
    ]


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1])
def test_sizes_past_the_api_cap_are_refused_before_any_call(limit: int) -> None:
    table = Table()
    with pytest.raises(InvalidInput, match="out of range") as caught:
        table.page(limit, None)
    assert caught.value.hint == f"use a number from 1 to {MAX_PAGE}"
    assert table.asked == []


def test_the_largest_page_and_its_look_ahead_row_fit_in_one_api_answer() -> None:
    assert MAX_PAGE + 1 <= 1000
