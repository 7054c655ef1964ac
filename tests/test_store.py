"""The SQLite job store: migrations, leases, optimistic writes, dedupe."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.job import ACTIVE, Job, JobStatus, Target, TaskResult
from bot.request import Model, VideoRequest
from storage import Conflict, SqliteJobStore
from storage.sqlite import MIGRATIONS

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REQUEST = VideoRequest(
    prompt='Speak "привет" 🌊',
    model=Model.V,
    aspect_ratio="16:9",
    resolution="720p",
    duration=4,
    audio=False,
    count=1,
    image_count=1,
)


def new_job(**changes: object) -> Job:
    job = Job(
        id=0,
        target=Target(
            platform="telegram",
            chat_id="-100",
            user_id="7",
            thread_id="3",
            reply_to="55",
            user_name="Ann",
        ),
        request=REQUEST,
        status=JobStatus.RECEIVED,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
        images=("/spool/a/1.jpg",),
    )
    return job.evolve(**changes)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    opened = await SqliteJobStore.open(str(tmp_path / "sub" / "jobs.db"))
    yield opened
    await opened.close()


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


async def test_round_trip_keeps_every_field(store: SqliteJobStore) -> None:
    job, created = await store.add(new_job(dedupe_key="telegram:-100:55", extra={"album": "x"}))
    assert created and job.id > 0
    job = await store.update(
        job.evolve(
            status=JobStatus.SUBMITTED,
            tasks=(TaskResult(task_id="i2v-1", width=1280),),
            image_urls=("https://u/1.jpg",),
            submitted_at=T0,
            delivered_ids=("9",),
        )
    )
    loaded = await store.get(job.id)
    assert loaded == job
    assert loaded.request.prompt == 'Speak "привет" 🌊' and loaded.target.thread_id == "3"


async def test_dedupe_key_returns_the_existing_job(store: SqliteJobStore) -> None:
    first, created = await store.add(new_job(dedupe_key="k"))
    second, created_again = await store.add(new_job(dedupe_key="k"))
    assert created and not created_again and second.id == first.id
    assert await store.find("k") == first


async def test_claim_leases_each_job_once(store: SqliteJobStore) -> None:
    due, _ = await store.add(new_job())
    later, _ = await store.add(new_job(next_run_at=T0 + timedelta(minutes=5)))
    done, _ = await store.add(new_job(status=JobStatus.DELIVERED))
    claimed = await store.claim_due(T0, 10, timedelta(minutes=1), "w")
    assert [j.id for j in claimed] == [due.id]
    assert await store.claim_due(T0, 10, timedelta(minutes=1), "w") == []  # leased
    assert await store.next_due() == T0 + timedelta(minutes=1)
    # The lease runs out: claimable again, with the later job now due too.
    again = await store.claim_due(T0 + timedelta(minutes=6), 10, timedelta(minutes=1), "w")
    assert {j.id for j in again} == {due.id, later.id}
    assert done.id not in {j.id for j in again}


async def test_release_leases_makes_jobs_claimable(store: SqliteJobStore) -> None:
    await store.add(new_job())
    await store.claim_due(T0, 10, timedelta(hours=1), "w")
    assert await store.release_leases() == 1
    assert len(await store.claim_due(T0, 10, timedelta(hours=1), "w")) == 1


async def test_stale_write_conflicts(store: SqliteJobStore) -> None:
    job, _ = await store.add(new_job())
    await store.update(job.evolve(attempts=1))
    with pytest.raises(Conflict):
        await store.update(job.evolve(attempts=2))


async def test_transition_only_from_allowed_states(store: SqliteJobStore) -> None:
    job, _ = await store.add(new_job())
    cancelled = await store.transition(job.id, ACTIVE, status=JobStatus.CANCELLED, images=())
    assert cancelled.status is JobStatus.CANCELLED and cancelled.images == ()
    assert cancelled.version == job.version + 1
    with pytest.raises(Conflict):
        await store.transition(job.id, ACTIVE, status=JobStatus.CANCELLED)
    with pytest.raises(StoreError):
        await store.transition(999, ACTIVE, status=JobStatus.CANCELLED)


async def test_recent_filters_by_user(store: SqliteJobStore) -> None:
    mine, _ = await store.add(new_job())
    other = new_job()
    await store.add(other.evolve(target=Target(platform="discord", chat_id="1", user_id="7")))
    await store.add(other.evolve(target=Target(platform="telegram", chat_id="1", user_id="8")))
    jobs = await store.recent(platform="telegram", user_id="7")
    assert [j.id for j in jobs] == [mine.id]
    assert len(await store.recent()) == 3


async def test_chat_defaults(store: SqliteJobStore) -> None:
    assert await store.get_defaults("telegram", "-100") == {}
    await store.set_defaults("telegram", "-100", {"model": "KL"})
    await store.set_defaults("telegram", "-100", {"aspect_ratio": "9:16"})
    assert await store.get_defaults("telegram", "-100") == {"aspect_ratio": "9:16"}
