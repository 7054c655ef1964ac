"""The SQLite job store's own matters: migrations and the schema.

What every store must do (leases, optimistic writes, dedupe, quotas, queries) is in
``test_store_contract.py``, which runs against SQLite too.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from storage import SqliteJobStore
from storage.sqlite import MIGRATIONS
from tests.test_store_contract import new_job as new_job  # test_engine.py imports it here


async def test_migrates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store = await SqliteJobStore.open(str(path))
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "chat_defaults"} <= tables
    again = await SqliteJobStore.open(str(path))  # a second open migrates nothing
    await again.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        await SqliteJobStore.open(str(path))


async def test_database_errors_surface_as_store_errors(tmp_path: Path) -> None:
    store = await SqliteJobStore.open(str(tmp_path / "jobs.db"))
    try:
        await store._db.execute("DROP TABLE jobs")  # as a damaged file would
        with pytest.raises(StoreError, match="the database failed") as caught:
            await store.get(1)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(StoreError):
            await store.claim_due(datetime.now(UTC), 1, timedelta(seconds=1), "w")
    finally:
        await store.close()


async def test_extra_of_older_databases_becomes_typed_fields(tmp_path: Path) -> None:
    """Migration 4: the old untyped ``extra`` moves into the job's and the target's fields."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(f"{script}\nPRAGMA user_version = {number};")
        target = '{"platform": "telegram", "chat_id": "-100", "user_id": "7"}'
        request = json.dumps(new_job().request.to_dict())
        for extra in (
            '{"again_of": 3, "adopted": true, "queue_position": 2, "chat_type": "group"}',
            '{"origin": "mention"}',
        ):
            db.execute(
                "INSERT INTO jobs (platform, chat_id, user_id, status, target, request, "
                "next_run_at, created_at, updated_at, extra) "
                "VALUES ('telegram', '-100', '7', 'received', ?, ?, 0, 0, 0, ?)",
                (target, request, extra),
            )
    store = await SqliteJobStore.open(str(path))
    try:
        first, second = await store.get(1), await store.get(2)
    finally:
        await store.close()
    assert first is not None and second is not None
    assert (first.again_of, first.adopted, first.queue_position) == (3, True, 2)
    assert (first.target.chat_type, first.target.origin) == ("group", None)
    assert (second.again_of, second.adopted, second.queue_position) == (None, False, None)
    assert (second.target.chat_type, second.target.origin) == (None, "mention")
