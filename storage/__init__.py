"""The job stores: durable jobs behind the core's :mod:`bot.jobs.ports`.

They import only :mod:`bot.model`, :mod:`bot.errors` and (for ``DATABASE_URL``)
:mod:`bot.settings`; only the composition root (:mod:`bot.app`) imports them.
"""

from __future__ import annotations

import sqlite3

from bot.errors import StoreError
from bot.settings import sqlite_path
from storage.memory import MemoryJobStore
from storage.sqlite import SqliteJobStore

__all__ = ["MemoryJobStore", "SqliteJobStore", "open_store"]


async def open_store(database_url: str, *, worker: bool = False) -> SqliteJobStore:
    """Open the store a ``DATABASE_URL`` names (SQLite for now).

    ``worker`` is for the process that works the jobs (the bot, the demo): with SQLite
    it must be the only one on the file. Raises :class:`StoreError` naming the file and
    the reason when it cannot be opened (not a database, unreadable, its folder not
    creatable, another bot on it), so the CLI prints one line instead of a traceback.
    """
    path = sqlite_path(database_url)
    try:
        return await SqliteJobStore.open(path, exclusive=worker)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
