"""The whole core against the sandbox on loopback: intake to delivered video."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from pathlib import Path

import av
import pytest

from bot.app.runtime import Core
from bot.errors import RecipientGone, TooLarge
from bot.jobs.pipeline import CHAT_GONE, Timing
from bot.keevx.sandbox import Sandbox
from bot.keevx.sandbox.models import RecordedCall
from bot.model.job import JobStatus
from bot.model.status import LOST_ANSWER
from bot.settings import Settings
from tests.support import RecordingAdapter, submit


def creates(sandbox: Sandbox) -> list[RecordedCall]:
    return [c for c in sandbox.calls if c.method == "POST" and c.path.endswith("/image_to_video")]


async def test_photo_becomes_delivered_video(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    seen: list[bytes] = []
    original = adapter.deliver

    async def keep_copy(job, video):  # type: ignore[no-untyped-def]
        seen.append(video.path.read_bytes())
        return await original(job, video)

    adapter.deliver = keep_copy  # type: ignore[method-assign]
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "waves at sunset --ar 9:16")
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
        leftovers = [await core.store.image(key) for key in job.images]
    assert final is not None and final.status is JobStatus.DELIVERED
    assert final.delivered_ids == (f"video-{job.id}-0",)
    assert final.images == () and job.images  # kept in the store until Keevx had them
    assert leftovers == [None]
    statuses = [s for j, s in adapter.statuses if j == job.id]
    assert statuses[0] is JobStatus.RECEIVED and statuses[-1] is JobStatus.DELIVERED
    assert JobStatus.SUBMITTED in statuses
    (call,) = creates(sandbox)
    assert call.json["aspect_ratio"] == "9:16" and "image_url" in call.json
    assert all(c.headers["authorization"] == "Bearer test-key-0123456789" for c in sandbox.calls)
    assert all(c.headers["source"] == "skill" for c in sandbox.calls)
    out = tmp_path / "video.mp4"
    out.write_bytes(seen[0])
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.height > stream.width  # 9:16 portrait


async def test_count_gives_several_videos(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "two takes --count 2", images=2)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert len(final.tasks) == 2 and len(adapter.delivered) == 2
    assert sorted((v.number, v.total) for _, v in adapter.delivered) == [(1, 2), (2, 2)]
    per_task = {i for t in final.tasks for i in t.delivered_ids}
    assert set(final.delivered_ids) == per_task and len(per_task) == 2 and final.error is None


async def test_failed_task_tells_the_reason(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "this will #fail")
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.FAILED
    assert final.error and "moderation" in final.error.lower()
    assert adapter.delivered == []


async def test_lost_create_answer_is_unknown_and_never_resent(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        original = core.keevx.create

        async def drop_after_upload(body):  # type: ignore[no-untyped-def]
            sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("drop",))
            return await original(body)

        core.keevx.create = drop_after_upload  # type: ignore[method-assign]
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
        await asyncio.sleep(0.3)  # the poller must not touch it again
    assert final is not None and final.status is JobStatus.UNKNOWN
    assert final.error == LOST_ANSWER
    assert len(creates(sandbox)) == 1
    assert len(sandbox.tasks) == 1  # Keevx did create it: resending would have charged twice


async def test_expired_after_poll_timeout(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=60)
    adapter = RecordingAdapter()
    async with Core(dataclasses.replace(settings, poll_timeout=0.3)) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.EXPIRED
    assert adapter.delivered == []


async def test_gone_chat_does_not_stop_others(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    adapter.fail_status_for = {"blocked"}
    adapter.status_error = RecipientGone("bot was blocked")
    async with Core(settings) as core:
        await core.attach(adapter)
        blocked = await submit(core.service, tmp_path, chat="blocked")
        fine = await submit(core.service, tmp_path, chat="fine")
        await adapter.wait(fine.id)
        gone = await core.service.get(blocked.id)
    assert gone is not None and gone.status is JobStatus.UNDELIVERABLE
    assert [j for j, _ in adapter.delivered] == [fine.id]


async def test_delivery_outage_is_retried(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    adapter.fail_deliveries = 2
    timing = Timing(
        poll_interval=timedelta(seconds=0.05),
        poll_timeout=timedelta(seconds=30),
        backoff_base=timedelta(seconds=0.05),
    )
    async with Core(settings, timing=timing) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id, timeout=40)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    assert len(adapter.delivered) == 1


async def test_too_large_becomes_link(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    adapter.fail_deliveries = 1
    adapter.fail_with = TooLarge("request entity too large")
    small = RecordingAdapter("small", limit=1000)
    async with Core(settings) as core:
        await core.attach(adapter, small)
        job = await submit(core.service, tmp_path)
        tiny = await submit(core.service, tmp_path, platform="small")
        await adapter.wait(job.id)
        await small.wait(tiny.id)
    ((_, video),) = adapter.delivered
    assert video.path is None and video.url.endswith(".mp4")
    ((_, video),) = small.delivered
    assert video.path is None and video.thumbnail_url


async def test_cancelled_job_is_never_delivered(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=1.0)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        while (current := await core.service.get(job.id)) and current.status != JobStatus.SUBMITTED:
            await asyncio.sleep(0.02)
        cancelled = await core.service.cancel(job.id, "user-1")
        await asyncio.sleep(1.5)
        final = await core.service.get(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert final is not None and final.status is JobStatus.CANCELLED
    assert adapter.delivered == []


async def test_duplicate_event_makes_one_job(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        first = await submit(core.service, tmp_path, dedupe_key="test:1")
        second = await submit(core.service, tmp_path, dedupe_key="test:1")
        await adapter.wait(first.id)
    assert first.id == second.id
    assert len(creates(sandbox)) == 1 and len(adapter.delivered) == 1


async def test_refused_delivery_is_undeliverable_and_said(
    settings: Settings, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    adapter.fail_deliveries = 1
    adapter.fail_with = RecipientGone("missing permission to attach files")
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.UNDELIVERABLE
    assert final.error == CHAT_GONE  # the platform's own words stay in the log
    assert (job.id, JobStatus.UNDELIVERABLE) in adapter.statuses  # the status message says so
    assert adapter.delivered == []


async def test_every_log_line_about_a_job_names_it(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RecordingAdapter()
    adapter.fail_deliveries = 1  # a retry, so the failure path logs too
    timing = Timing(
        poll_interval=timedelta(seconds=0.05),
        poll_timeout=timedelta(seconds=30),
        backoff_base=timedelta(seconds=0.05),
    )
    caplog.set_level(logging.DEBUG, logger="bot")
    async with Core(settings, timing=timing) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
    about_jobs = [
        r.getMessage()
        for r in caplog.records
        if r.name
        in ("bot.jobs.pipeline", "bot.jobs.service", "bot.jobs.delivery", "bot.jobs.callbacks")
    ]
    assert len(about_jobs) >= 4
    assert all(f"job {job.id}" in line for line in about_jobs), about_jobs
