"""Stopping with jobs in flight and starting again on the same database loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path

from bot.app.runtime import Core
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.model.status import RESTARTED
from bot.settings import Settings
from tests.support import RecordingAdapter, submit


async def wait_for_status(core: Core, job_id: int, status: JobStatus, timeout: float = 20) -> None:
    async def poll() -> None:
        while (job := await core.service.get(job_id)) is None or job.status is not status:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_jobs_in_flight_are_delivered_once_after_restart(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=1.0)
    first, second = RecordingAdapter(), RecordingAdapter()
    async with Core(settings, stop_grace=0) as core:
        await core.attach(first)
        jobs = [await submit(core.service, tmp_path, chat=f"c{n}") for n in range(3)]
        for job in jobs:
            await wait_for_status(core, job.id, JobStatus.SUBMITTED)
    assert first.delivered == []
    async with Core(settings) as core:
        await core.attach(second)
        for job in jobs:
            await second.wait(job.id)
        finals = [await core.service.get(job.id) for job in jobs]
    assert all(j is not None and j.status is JobStatus.DELIVERED for j in finals)
    assert Counter(j for j, _ in second.delivered) == {job.id: 1 for job in jobs}
    creates = [
        c for c in sandbox.calls if c.method == "POST" and c.path.endswith("/image_to_video")
    ]
    assert len(creates) == 3  # one task per job, none resubmitted


async def test_received_job_resumes_with_its_images_from_the_store(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    async with Core(settings) as core:  # no adapter attached: the poller never started
        job = await submit(core.service, tmp_path)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert len(adapter.delivered) == 1


async def test_job_left_submitting_becomes_unknown_without_a_second_post(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    async with Core(settings) as core:
        job = await submit(core.service, tmp_path)
        # As if the process died right after committing `submitting`.
        await core.store.update(job.evolve(status=JobStatus.SUBMITTING))
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.UNKNOWN
    assert final.error == RESTARTED  # not "the answer was lost": the bot itself restarted
    assert not [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
    assert (job.id, JobStatus.UNKNOWN) in adapter.statuses  # the requester is told


async def test_job_with_pending_delivery_is_delivered_after_restart(
    settings: Settings, tmp_path: Path
) -> None:
    down = RecordingAdapter()
    down.fail_deliveries = 100
    async with Core(settings, stop_grace=0) as core:
        await core.attach(down)
        job = await submit(core.service, tmp_path)
        await wait_for_status(core, job.id, JobStatus.SUCCEEDED)
        while (current := await core.service.get(job.id)) and current.attempts == 0:
            await asyncio.sleep(0.02)
    up = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(up)
        await core.store.update(
            (await core.service.get(job.id)).evolve(next_run_at=current.updated_at)  # type: ignore[union-attr]
        )
        core.poller.wake()
        await up.wait(job.id)
    assert [j for j, _ in up.delivered] == [job.id]
