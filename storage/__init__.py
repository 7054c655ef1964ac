"""The job store: durable jobs behind :class:`storage.base.JobStore`."""

from __future__ import annotations

from bot.settings import sqlite_path
from storage.base import Conflict, JobStore
from storage.sqlite import SqliteJobStore

__all__ = ["Conflict", "JobStore", "SqliteJobStore", "open_store"]


async def open_store(database_url: str) -> JobStore:
    """Open the store a ``DATABASE_URL`` names (SQLite for now)."""
    return await SqliteJobStore.open(sqlite_path(database_url))
