"""The signed-in user's credits: the balance and the ledger that explains it.

Credits are only ever changed by the database (reserve, spend, refund, grant);
this repo reads them, one SQL function call each.
"""

from __future__ import annotations

from datetime import datetime

from genvault._paging import check_page_size
from genvault._records import LedgerEntry
from genvault._transport import Transport

__all__ = ["CreditsRepo"]


class CreditsRepo:
    """The signed-in user's credit balance and its history."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def balance(self) -> int:
        """Credits left."""
        return int(self._transport.rpc("my_credits", {}, scalar=True) or 0)

    def has_credits(self, needed: int = 1) -> bool:
        """Whether at least ``needed`` credits are left."""
        return self.balance() >= needed

    def ledger(self, *, limit: int = 20, since: datetime | None = None) -> list[LedgerEntry]:
        """The most recent changes to the balance, newest first."""
        check_page_size(limit)
        rows = self._transport.rpc("my_ledger", {"max_rows": limit, "since": since})
        return [LedgerEntry.from_row(r) for r in rows]
