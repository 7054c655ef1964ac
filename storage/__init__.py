"""The job stores: durable jobs behind the core's :mod:`bot.jobs.ports`.

They import only :mod:`bot.model` (``DATABASE_URL`` included) and :mod:`bot.errors`;
only the composition root (:mod:`bot.app`) imports them.
PostgreSQL's driver is imported only when a ``postgresql://`` URL asks for it.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from bot.errors import StoreError
from bot.model.database_url import database_kind, sqlite_path
from storage.memory import MemoryJobStore
from storage.sqlite import SqliteJobStore

if TYPE_CHECKING:
    from storage.postgres import PostgresJobStore

__all__ = ["MemoryJobStore", "SqliteJobStore", "open_store"]


async def open_store(
    database_url: str, *, worker: bool = False
) -> SqliteJobStore | PostgresJobStore:
    """Open the store a ``DATABASE_URL`` names: a SQLite file or a PostgreSQL database.

    ``worker`` is for the process that works the jobs (the bot, the demo): with SQLite
    it must be the only one on the file; a PostgreSQL database takes any number. Raises
    :class:`StoreError` naming the file or the server (never a password) and the reason
    when it cannot be opened (not a database, unreadable, its folder not creatable,
    another bot on it, the server unreachable), so the CLI prints one line, not a traceback.
    """
    if database_kind(database_url) == "postgresql":
        from storage.postgres import PostgresJobStore

        return await PostgresJobStore.open(database_url)
    path = sqlite_path(database_url)
    try:
        return await SqliteJobStore.open(path, exclusive=worker)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
