"""PostgreSQL-only matters: migrations, several instances on one database, errors, the CLI.

Every instance here is its own :class:`PostgresJobStore` with its own pool, on a real
server (``tests/pg.py``); the contract all stores share is ``test_store_contract.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import traceback
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from bot.app.cli import main
from bot.app.runtime import Core
from bot.errors import Conflict, StoreError
from bot.jobs.limits import RUNNING
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.model.quota import Quota, QuotaExceeded
from bot.settings import Settings
from storage import open_store
from storage.postgres import MIGRATIONS, SQL_CLAIM, PostgresJobStore
from tests.pg import _unavailable
from tests.support import RecordingAdapter, submit
from tests.test_store_contract import T0, added, new_job

HOUR = timedelta(hours=1)
PASSWORD = "s3cret-pw"


def with_password(url: str) -> str:
    """``url`` with a password (the test server trusts loopback, so any password works)."""
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


async def instances(url: str, count: int, stack: AsyncExitStack) -> list[PostgresJobStore]:
    """``count`` stores on one database, as ``count`` bot instances would open it."""
    stores = []
    for _ in range(count):
        store = await PostgresJobStore.open(url)
        stack.push_async_callback(store.close)
        stores.append(store)
    return stores


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


# --- migrations --------------------------------------------------------------


async def test_instances_opening_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresJobStore.open(pg_url) for _ in range(4)))
    try:
        assert versions(pg_url) == list(range(1, len(MIGRATIONS) + 1))
        job = await added(stores[0])
        assert await stores[3].get(job.id) == job
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    again = await PostgresJobStore.open(pg_url)  # idempotent: nothing left to apply
    await again.close()
    assert versions(pg_url) == list(range(1, len(MIGRATIONS) + 1))


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    await (await PostgresJobStore.open(pg_url)).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer than this bot"):
        await PostgresJobStore.open(pg_url)


async def test_the_claim_reads_the_live_jobs_index(pg_url: str) -> None:
    """The claim's status filter is spelled as the partial index's, so the planner uses it."""
    await (await PostgresJobStore.open(pg_url)).close()
    params = {"now": T0, "until": T0, "limit": 5, "owner": "w"}
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(str(r[0]) for r in conn.execute(f"EXPLAIN {SQL_CLAIM}", params))
    assert "jobs_due" in plan


async def test_datetimes_come_back_in_utc_whatever_the_server_zone(pg_url: str) -> None:
    database = pg_url.rpartition("/")[2]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET timezone TO 'Asia/Tokyo'")
    store = await PostgresJobStore.open(pg_url)
    try:
        job = await added(store, finished_at=T0 + HOUR)
        loaded = await store.get(job.id)
        assert loaded is not None and loaded == job
        assert loaded.created_at.utcoffset() == timedelta(0) and loaded.created_at == T0
        assert loaded.finished_at is not None and loaded.finished_at.utcoffset() == timedelta(0)
        await store.claim_due(T0, 1, HOUR, "w")
        assert await store.next_due() == T0 + HOUR
    finally:
        await store.close()


# --- several instances on one database -----------------------------------------


async def test_concurrent_claimers_claim_each_job_exactly_once(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        stores = await instances(pg_url, 4, stack)
        for n in range(200):
            await stores[n % 4].add(new_job(next_run_at=T0 + timedelta(seconds=n % 7)))

        async def claimer(store: PostgresJobStore, owner: str) -> list[int]:
            mine: list[int] = []
            while batch := await store.claim_due(T0 + HOUR, 7, HOUR, owner):
                mine.extend(j.id for j in batch)
            return mine

        claimed = await asyncio.gather(*(claimer(s, f"w{i}") for i, s in enumerate(stores)))
        every = Counter(job_id for ids in claimed for job_id in ids)
        assert len(every) == 200 and set(every.values()) == {1}
        assert await stores[0].claim_due(T0 + HOUR, 500, HOUR, "late") == []
        for owner, ids in enumerate(claimed):  # each lease is its claimer's
            for job_id in ids[:3]:
                assert await stores[(owner + 1) % 4].renew(job_id, f"w{owner}", T0 + 2 * HOUR)
                assert not await stores[owner].release(job_id, f"w{(owner + 1) % 4}")


async def test_one_instance_keeps_anothers_leases(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        first, second = await instances(pg_url, 2, stack)
        await added(first)
        assert len(await first.claim_due(T0, 1, HOUR, "first")) == 1
        assert await second.release_leases() == 0  # "first" may be alive: its lease stays
        assert await second.claim_due(T0, 1, HOUR, "second") == []
        assert len(await second.claim_due(T0 + HOUR, 1, HOUR, "second")) == 1  # it ran out


async def test_concurrent_adds_cannot_pass_a_users_quota(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        stores = await instances(pg_url, 2, stack)
        for quota, expected in (
            (Quota(max_active=1, max_videos=0, day_start=T0), 1),
            (Quota(max_active=0, max_videos=3, day_start=T0 + HOUR), 3),
        ):
            job = new_job(created_at=quota.day_start)
            results = await asyncio.gather(
                *(stores[n % 2].add(job, quota=quota) for n in range(16)), return_exceptions=True
            )
            created = [r for r in results if isinstance(r, tuple) and r[1]]
            refused = [r for r in results if isinstance(r, QuotaExceeded)]
            assert len(created) == expected and len(refused) == 16 - expected, results


async def test_concurrent_admits_never_exceed_max_running(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        stores = await instances(pg_url, 2, stack)
        waiting = [await added(stores[0]) for _ in range(12)]

        async def admit_all(store: PostgresJobStore) -> None:
            for job in waiting:
                current = await store.get(job.id)
                assert current is not None
                with contextlib.suppress(Conflict):  # the other instance wrote it first
                    await store.admit(current, max_running=3, running=RUNNING, now=T0)

        for oldest in waiting[:4]:  # three admitters at once, then the oldest job ends
            await asyncio.gather(admit_all(stores[0]), admit_all(stores[1]), admit_all(stores[1]))
            assert await stores[0].count_active(statuses=RUNNING) == 3
            running = await stores[1].get(oldest.id)
            assert running is not None and running.status in RUNNING
            await stores[1].update(running.evolve(status=JobStatus.DELIVERED))


async def test_two_bots_on_one_database_deliver_each_job_once(
    pg_url: str,
    settings: Settings,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two whole instances (engine, poller, delivery) share the jobs: none runs twice."""
    monkeypatch.chdir(tmp_path)  # one machine: the instances share data/spool
    settings = dataclasses.replace(settings, database_url=with_password(pg_url))
    adapters = [RecordingAdapter(), RecordingAdapter()]
    async with Core(settings) as one, Core(settings) as two:
        for core, adapter in zip((one, two), adapters, strict=True):
            await core.attach(adapter)
        jobs = [
            await submit(core.service, tmp_path, user=f"user-{n}")
            for n, core in enumerate((one, two, one, two, one, two))
        ]

        async def finished() -> None:
            for j in jobs:
                while (job := await one.store.get(j.id)) is None or not job.status.terminal:
                    await asyncio.sleep(0.05)

        await asyncio.wait_for(finished(), 60)
        final = [await two.store.get(j.id) for j in jobs]
    assert all(j is not None and j.status is JobStatus.DELIVERED for j in final), final
    delivered = Counter(job_id for a in adapters for job_id, _ in a.delivered)
    assert delivered == Counter({j.id: 1 for j in jobs})
    assert len(sandbox.tasks) == len(jobs)  # one Keevx task per job: nothing submitted twice


# --- errors never show the password ------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nobody listens once it is closed


def _shown(exc: BaseException) -> str:
    """What a log line with the traceback would show."""
    return "".join(traceback.format_exception(exc))


async def test_a_refused_connection_is_a_store_error_without_the_password() -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/keevx"
    with pytest.raises(StoreError) as refused:
        await PostgresJobStore.open(url, wait=2)
    assert PASSWORD not in _shown(refused.value)
    assert "postgresql://postgres:***@127.0.0.1" in str(refused.value)
    with pytest.raises(StoreError) as again:
        await open_store(url)
    assert PASSWORD not in _shown(again.value)


async def test_a_missing_database_is_a_store_error_without_the_password(pg_url: str) -> None:
    url = with_password(pg_url.rpartition("/")[0] + "/no_such_db")
    with pytest.raises(StoreError, match="no_such_db") as refused:
        await PostgresJobStore.open(url)
    assert PASSWORD not in _shown(refused.value)


async def test_a_driver_error_in_a_query_is_a_store_error(pg_url: str) -> None:
    store = await PostgresJobStore.open(with_password(pg_url))
    try:
        await added(store, dedupe_key="a")
        other = await added(store, dedupe_key="b")
        with pytest.raises(StoreError) as taken:  # the dedupe key is unique
            await store.update(other.evolve(dedupe_key="a"))
        assert not isinstance(taken.value, Conflict) and PASSWORD not in _shown(taken.value)
        assert (await store.get(other.id)) == other  # nothing written
    finally:
        await store.close()


# --- wiring: open_store, the CLI, the spool ----------------------------------


async def test_open_store_takes_postgresql_urls_and_many_workers(pg_url: str) -> None:
    first = await open_store(with_password(pg_url), worker=True)
    second = await open_store(pg_url.replace("postgresql://", "postgres://"), worker=True)
    try:
        assert isinstance(first, PostgresJobStore) and isinstance(second, PostgresJobStore)
        job = await added(first)
        assert await second.get(job.id) == job
    finally:
        await first.close()
        await second.close()


async def test_cli_jobs_and_doctor_on_postgresql(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(pg_url)
    store = await PostgresJobStore.open(url)
    try:
        job = await added(store)
    finally:
        await store.close()
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "KEEVX_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KEEVX_SANDBOX", "1")
    assert await asyncio.to_thread(main, ["jobs"]) == 0  # main runs its own loop
    listed = capsys.readouterr().out
    assert any(line.split()[:1] == [str(job.id)] for line in listed.splitlines()), listed
    await asyncio.to_thread(main, ["doctor"])  # BAD configuration: no platform here
    report = capsys.readouterr().out
    host = pg_url.split("@")[1]
    assert f"ok   database      PostgreSQL at {host} opens and is migrated" in report, report
    assert PASSWORD not in listed + report


def test_a_missing_server_skips_here_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="need a PostgreSQL server"):
        _unavailable("no initdb")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        _unavailable("no initdb")


async def test_a_change_on_one_instance_wakes_the_others(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        one, two = await instances(pg_url, 2, stack)
        woken = asyncio.Event()
        watching = asyncio.create_task(two.watch(woken.set))
        stack.callback(watching.cancel)
        await asyncio.wait_for(woken.wait(), 10)  # once on listening: nothing missed before
        woken.clear()
        job = await added(one)  # a new job
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        (claimed,) = await one.claim_due(T0, 1, timedelta(minutes=5), "w")
        await one.renew(claimed.id, "w", T0 + timedelta(minutes=10))  # a renewal is no news
        await one.release(claimed.id, "w")  # a lease let go is
        await asyncio.wait_for(woken.wait(), 10)
        assert job.id == claimed.id


async def test_a_job_made_on_one_instance_is_picked_up_by_another_at_once(
    pg_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instance two's poller would sleep an hour; the notification wakes it."""
    monkeypatch.chdir(tmp_path)
    settings = dataclasses.replace(settings, database_url=with_password(pg_url), poll_interval=3600)
    async with Core(settings) as one, Core(settings) as two:
        await two.attach(RecordingAdapter())  # one takes requests but works no jobs
        await asyncio.sleep(0.5)  # two's poller found nothing and went to sleep
        job = await submit(one.service, tmp_path)

        async def picked_up() -> None:
            while (current := await one.store.get(job.id)) and current.status is JobStatus.RECEIVED:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(picked_up(), 10)
