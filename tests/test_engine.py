"""The job engine under bad luck: leases that outlast slow work, raced limits, store errors."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import Video
from bot.app.runtime import Core
from bot.errors import Conflict, LimitReached, RequestInvalid, StoreError
from bot.jobs.limits import RUNNING
from bot.jobs.pipeline import BOT_FAILED, Timing
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox
from bot.keevx.sandbox.models import RecordedCall
from bot.model.job import Job, JobStatus
from bot.model.request import Options, build_request
from bot.model.status import LOST_ANSWER
from bot.settings import Settings
from storage import SqliteJobStore
from tests.support import (
    RecordingAdapter,
    add_lost_job,
    callback_settings,
    callbacks_of,
    submit,
)
from tests.test_store import new_job

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def timing(settings: Settings, **changes: Any) -> Timing:
    return Timing(
        poll_interval=timedelta(seconds=settings.poll_interval),
        poll_timeout=timedelta(seconds=settings.poll_timeout),
        backoff_base=timedelta(seconds=0.05),
        **changes,
    )


def creates(sandbox: Sandbox) -> list[RecordedCall]:
    return [c for c in sandbox.calls if c.method == "POST" and c.path.endswith("/image_to_video")]


class SlowAdapter(RecordingAdapter):
    """Posting a video takes ``seconds`` (a slow upload), much longer than the lease."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def deliver(self, job: Job, video: Video) -> str:
        await asyncio.sleep(self.seconds)
        return await super().deliver(job, video)


# --- leases -------------------------------------------------------------------------------


async def test_a_delivery_that_outlasts_the_lease_is_posted_once(
    settings: Settings, tmp_path: Path
) -> None:
    """The worker renews its lease while it posts, so nobody claims the job meanwhile."""
    adapter = SlowAdapter(seconds=2.0)
    async with Core(settings, timing=timing(settings, lease=timedelta(seconds=0.6))) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        await asyncio.sleep(1.0)  # a second worker, had it claimed the job, would post now
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert [job_id for job_id, _ in adapter.delivered] == [job.id]


async def test_a_worker_never_renews_or_releases_a_lease_it_lost(tmp_path: Path) -> None:
    store = await SqliteJobStore.open(str(tmp_path / "bot.db"))
    try:
        added, _ = await store.add(new_job(next_run_at=T0))
        (first,) = await store.claim_due(T0, 1, timedelta(seconds=1), "worker-a")
        # worker-a stalls past its lease; worker-b claims the job.
        later = T0 + timedelta(seconds=2)
        (second,) = await store.claim_due(later, 1, timedelta(seconds=60), "worker-b")
        assert not await store.renew(added.id, "worker-a", later + timedelta(seconds=60))
        assert not await store.release(added.id, "worker-a")
        with pytest.raises(Conflict):  # worker-a's stale write cannot land either
            await store.update(first.evolve(attempts=9), release=True)
        # worker-b still holds it: nobody else can claim it.
        assert await store.claim_due(later + timedelta(seconds=30), 1, timedelta(0), "c") == []
        assert await store.renew(added.id, "worker-b", later + timedelta(seconds=90))
        assert await store.release(added.id, "worker-b")
        assert second.version == first.version + 1
    finally:
        await store.close()


async def test_a_burst_of_concurrent_writes_does_not_freeze_the_job(
    settings: Settings, tmp_path: Path
) -> None:
    """Each of the worker's writes is beaten by another writer (callbacks arriving together).

    The worker reads the job again and carries on while the lease is its own; it never
    leaves the lease held with nobody working (which froze a job for the lease's length).
    """
    adapter = RecordingAdapter()
    async with Core(settings) as core:  # the default lease: a frozen job would stay frozen
        store = core.store
        real_update = store.update
        beaten = 0

        async def racing_update(job: Job, **kwargs: Any) -> Job:
            nonlocal beaten
            current = await store.get(job.id)
            assert current is not None
            if current.status is JobStatus.SUBMITTED and beaten < 4:
                beaten += 1
                await real_update(current.evolve(next_run_at=current.next_run_at))
            return await real_update(job, **kwargs)

        store.update = racing_update  # type: ignore[method-assign]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "four takes --count 4")
        await adapter.wait(job.id, timeout=15)
        final = await core.service.get(job.id)
    assert beaten == 4
    assert final is not None and final.status is JobStatus.DELIVERED
    assert sorted(v.number for _, v in adapter.delivered) == [1, 2, 3, 4]  # each once


async def test_a_transient_database_error_delays_a_job_by_seconds(
    settings: Settings, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    async with Core(settings, timing=timing(settings)) as core:
        store = core.store
        real_update = store.update
        failures = 0

        async def flaky_update(job: Job, **kwargs: Any) -> Job:
            nonlocal failures
            if job.status is JobStatus.SUCCEEDED and failures < 2:
                failures += 1
                raise sqlite3.OperationalError("disk I/O error")
            return await real_update(job, **kwargs)

        store.update = flaky_update  # type: ignore[method-assign]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id, timeout=10)  # the claim's lease (30 s) was let go
        final = await core.service.get(job.id)
    assert failures == 2
    assert final is not None and final.status is JobStatus.DELIVERED


async def test_tasks_just_created_survive_a_failing_write_and_a_cancel(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The ids of tasks Keevx just made are committed even if the store hiccups and a
    cancel lands at that moment: the job is cancelled, its task recorded, nothing resent."""
    adapter = RecordingAdapter()
    async with Core(settings, timing=timing(settings)) as core:
        store = core.store
        real_update = store.update
        hiccups = 0

        async def hiccup_then_cancel(job: Job, **kwargs: Any) -> Job:
            nonlocal hiccups
            if job.status is JobStatus.SUBMITTED and hiccups < 2:
                hiccups += 1
                if hiccups == 2:
                    await core.service.cancel(job.id, "user-1")
                raise sqlite3.OperationalError("disk I/O error")
            return await real_update(job, **kwargs)

        store.update = hiccup_then_cancel  # type: ignore[method-assign]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        await asyncio.sleep(0.3)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED
    assert [t.task_id for t in final.tasks] == list(sandbox.tasks)
    assert final.create_requests == 1 and len(creates(sandbox)) == 1
    assert adapter.delivered == []


async def test_a_job_that_keeps_failing_unexpectedly_ends_with_a_message(
    settings: Settings, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    async with Core(settings, timing=timing(settings)) as core:
        store = core.store
        real_update = store.update

        async def broken_update(job: Job, **kwargs: Any) -> Job:
            if job.status is JobStatus.SUCCEEDED:
                raise sqlite3.DatabaseError("database disk image is malformed")
            return await real_update(job, **kwargs)

        store.update = broken_update  # type: ignore[method-assign]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id, timeout=15)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.FAILED
    assert final.error == BOT_FAILED
    assert (job.id, JobStatus.FAILED) in adapter.statuses  # the user is told
    assert adapter.delivered == []


async def test_the_poller_survives_a_failing_store(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        real_claim = core.store.claim_due
        failures = 0

        async def flaky_claim(*args: Any) -> list[Job]:
            nonlocal failures
            if failures < 2:
                failures += 1
                raise sqlite3.OperationalError("database is locked")
            return await real_claim(*args)

        core.store.claim_due = flaky_claim  # type: ignore[method-assign,assignment]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id, timeout=10)
    assert failures == 2 and adapter.delivered


# --- one process per SQLite file ----------------------------------------------------------


async def test_a_second_worker_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "bot.db")
    first = await SqliteJobStore.open(path, exclusive=True)
    try:
        with pytest.raises(StoreError, match="another keevx-bot process is already running"):
            await SqliteJobStore.open(path, exclusive=True)
        reader = await SqliteJobStore.open(path)  # `keevx-bot jobs` beside a running bot
        await reader.close()
    finally:
        await first.close()
    again = await SqliteJobStore.open(path, exclusive=True)  # closing let go of the lock
    await again.close()


# --- Keevx's answers and the create count -------------------------------------------------


async def test_a_create_answered_by_a_gateway_error_is_never_sent_again(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(
        sandbox.config, fault_rate=1.0, faults=("502-after-create",)
    )
    adapter = RecordingAdapter()
    async with Core(settings, timing=timing(settings)) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.UNKNOWN
    assert final.error == LOST_ANSWER  # the request went out; its answer did not come back
    assert final.create_requests == 1
    assert len(creates(sandbox)) == 1 and len(sandbox.tasks) == 1


async def test_a_long_retry_after_reschedules_instead_of_losing_the_job(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("429-long",))
    adapter = RecordingAdapter()
    async with Core(settings, timing=timing(settings)) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        while (current := await core.service.get(job.id)) and current.attempts == 0:
            await asyncio.sleep(0.02)
    assert current is not None and current.status is JobStatus.UPLOADING
    assert current.create_requests == 0  # a 429 made no task
    assert current.next_run_at - datetime.now(UTC) > timedelta(minutes=50)  # as Keevx asked
    assert not sandbox.tasks


# --- fair use cannot be raced --------------------------------------------------------------


async def test_simultaneous_requests_cannot_pass_the_active_limit(
    settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, max_active_per_user=2)
    async with Core(settings) as core:  # no adapter: the jobs stay active
        results = await asyncio.gather(
            *(submit(core.service, tmp_path / str(n), f"take {n}") for n in range(40)),
            return_exceptions=True,
        )
        stored = await core.store.recent(limit=100)
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(stored) == 2 and len(refused) == 38
    assert all(r.field == "MAX_ACTIVE_PER_USER" for r in refused)
    with sqlite3.connect(tmp_path / "bot.db") as db:  # the refused requests' images are gone
        assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 2


async def test_simultaneous_requests_cannot_pass_the_daily_limit(
    settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, daily_videos_per_user=10)
    async with Core(settings) as core:
        results = await asyncio.gather(
            *(submit(core.service, tmp_path / str(n), "x --count 4") for n in range(20)),
            return_exceptions=True,
        )
        stored = await core.store.recent(limit=100)
    assert sum(j.request.count for j in stored) == 8  # two jobs of 4; a third would be 12
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, Job))


async def test_the_global_limit_admits_one_job_at_a_time(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, max_active_total=1, poll_concurrency=8)
    adapter = RecordingAdapter()
    running_seen: list[int] = []
    async with Core(settings) as core:
        store = core.store
        real_update = store.update

        async def watching_update(job: Job, **kwargs: Any) -> Job:
            result = await real_update(job, **kwargs)
            running_seen.append(await store.count_active(statuses=RUNNING))
            return result

        store.update = watching_update  # type: ignore[method-assign]
        jobs = [await submit(core.service, tmp_path, f"take {n}", user=f"u{n}") for n in range(5)]
        await core.attach(adapter)
        for job in jobs:
            await adapter.wait(job.id)
    assert len(adapter.delivered) == 5
    assert max(running_seen) == 1


# --- cancel never races the post -----------------------------------------------------------


async def test_cancel_during_delivery_is_too_late_and_says_so(
    settings: Settings, tmp_path: Path
) -> None:
    posting = asyncio.Event()
    finish = asyncio.Event()

    class BlockedAdapter(RecordingAdapter):
        async def deliver(self, job: Job, video: Video) -> str:
            posting.set()
            await finish.wait()
            return await super().deliver(job, video)

    adapter = BlockedAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await asyncio.wait_for(posting.wait(), 20)
        with pytest.raises(RequestInvalid, match="too late to cancel"):
            await core.service.cancel(job.id, "user-1")
        finish.set()
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert len(adapter.delivered) == 1


# --- callbacks in a burst ------------------------------------------------------------------


async def test_callbacks_arriving_together_deliver_promptly(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = callback_settings(settings)
    sandbox.config = dataclasses.replace(sandbox.config, delay=0.5)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "four takes --count 4")
        while (current := await core.service.get(job.id)) and current.status != JobStatus.SUBMITTED:
            await asyncio.sleep(0.01)
        assert current is not None
        url = next(iter(sandbox.tasks.values())).request["callback_url"]
        async with httpx.AsyncClient() as http:  # more callbacks on top of Keevx's own four
            answers = await asyncio.gather(
                *(
                    http.post(url, json={"code": 0, "data": {"task_id": t.task_id}})
                    for t in current.tasks
                    for _ in range(3)
                )
            )
        assert {a.status_code for a in answers} == {200}
        await adapter.wait(job.id, timeout=10)  # never frozen until a lease runs out
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert sorted(v.number for _, v in adapter.delivered) == [1, 2, 3, 4]  # each once


async def test_an_adopted_task_that_does_not_fit_the_request_is_dropped(
    settings: Settings, tmp_path: Path
) -> None:
    """A callback names a real task, but Keevx's own answer shows another video (16:9, 4 s,
    for a 9:16, 6 s request): the job goes back to unknown and nothing is delivered."""
    settings = callback_settings(settings)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        image = await core.keevx.upload(SAMPLE_IMAGE, content_type="image/jpeg")
        stranger = build_request("a stranger's video", Options(), 1)
        (task_id,) = await core.keevx.create(stranger.keevx_body([image.url], None))
        while not (await core.keevx.query(task_id)).done:
            await asyncio.sleep(0.05)
        lost = await add_lost_job(
            core.store,
            "dance --ar 9:16 --duration 6",
            create_requests=1,
            error=LOST_ANSWER,
        )
        url = callbacks_of(core).url_for(lost)
        async with httpx.AsyncClient() as http:
            answer = await http.post(url, json={"code": 0, "data": {"task_id": task_id}})
        assert answer.status_code == 200
        while (current := await core.store.get(lost.id)) and not current.status.terminal:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        final = await core.store.get(lost.id)
    assert final is not None and final.status is JobStatus.UNKNOWN and final.tasks == ()
    assert adapter.delivered == []
