"""Erasing an account: every stored file and every row of the user, verified.

Files go first, then the rows (one SQL call, ``delete_my_account``), then any
file a generation finishing elsewhere stored meanwhile. What is left is
counted: an account is gone only when its storage folder is empty.
"""

from __future__ import annotations

from genvault._exceptions import StorageFailed
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["AccountDeletion", "erase_account"]


class AccountDeletion(dict[str, int]):
    """Counts of what :meth:`Client.delete_account` removed (generations, ledger entries, files)."""


def erase_account(transport: Transport, storage: Storage, user_id: str) -> AccountDeletion:
    """Remove the user's files and rows; StorageFailed if a file could not be removed."""
    files = storage.list(user_id)
    storage.delete(o.path for o in files)
    rows = transport.rpc("delete_my_account", {})
    # A generation finishing elsewhere may have stored files since the first
    # pass; with the account gone no new row can point at them.
    late = storage.list(user_id)
    storage.delete(o.path for o in late)
    left = storage.list(user_id)
    if left:
        raise StorageFailed(f"{len(left)} stored files of the account could not be removed")
    counts = rows[0] if rows else {}
    return AccountDeletion(
        generations=int(counts.get("generations", 0)),
        ledger_entries=int(counts.get("ledger_entries", 0)),
        files=len(files) + len(late),
    )
