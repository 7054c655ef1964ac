"""Several videos in one job (``--count``): each finished video is delivered once.

Through both real adapters against their fakes and the Keevx sandbox, with one
task made to fail, one kept running past ``POLL_TIMEOUT``, and a send failing
between two videos. Each video is recorded as posted before the next is sent,
so a retry never posts one again; the user is told how many arrived and why
the others did not, and gets the missing ones back on the daily allowance.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.jobs.pipeline import Timing
from bot.keevx.sandbox import Sandbox
from bot.keevx.sandbox.models import SandboxTask
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.test_discord_adapter import OVER, Bot, png, running_bot, webhook_posts
from tests.test_telegram_adapter import TOKEN, USER, _photo, final_job, running

# Quick retries, so a failed send is tried again within the test's patience.
TIMING = Timing(
    poll_interval=timedelta(seconds=0.05),
    poll_timeout=timedelta(seconds=30),
    backoff_base=timedelta(seconds=0.2),
)
TODAY = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
async def tg_fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def dc_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server
        assert not server.unknown, server.unknown


async def two_tasks(sandbox: Sandbox) -> tuple[SandboxTask, SandboxTask]:
    """The job's two Keevx tasks, once created, in the order the job lists them."""
    async with asyncio.timeout(20):
        while len(sandbox.tasks) < 2:
            await asyncio.sleep(0.01)
    first, second = sandbox.tasks.values()
    return first, second


def later(task: SandboxTask, seconds: float) -> None:
    """Keep ``task`` running ``seconds`` longer than planned."""
    task.due = task.clock() + seconds


def captions(fake: FakeTelegram) -> list[str]:
    return [c["caption"] for c in fake.calls_of("sendVideo") if c.status == 200]


# --- Telegram --------------------------------------------------------------------------------


async def test_telegram_one_failed_task_one_video_and_a_plain_account(
    settings: Settings, sandbox: Sandbox, tg_fake: FakeTelegram
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=1.0)
    async with running(settings, tg_fake, timing=TIMING) as (core, _):
        tg_fake.photo_message(USER, "two takes --count 2", photo=_photo(tg_fake))
        _, second = await two_tasks(sandbox)
        second.fail_reason = "Content moderation rejected the image"
        job = await final_job(core, within=30)
        charged = await core.store.videos_since("telegram", str(USER), TODAY)
    assert job.status is JobStatus.DELIVERED
    assert [t.arrived for t in job.tasks] == [True, False]
    (caption,) = captions(tg_fake)
    assert "video 1/2" in caption
    status = tg_fake.sent_texts(USER)[-1]
    assert "1 of 2 videos arrived" in status and "The other one did not" in status
    assert "moderation" in status
    assert charged == 1  # the video that did not arrive is given back


async def test_telegram_a_finished_video_is_delivered_when_its_sibling_times_out(
    settings: Settings, sandbox: Sandbox, tg_fake: FakeTelegram
) -> None:
    timing = dataclasses.replace(TIMING, poll_timeout=timedelta(seconds=4))
    async with running(settings, tg_fake, timing=timing) as (core, _):
        tg_fake.photo_message(USER, "two takes --count 2", photo=_photo(tg_fake))
        _, second = await two_tasks(sandbox)
        later(second, 600)
        await tg_fake.wait_for("sendVideo", within=15)  # the first, while the second runs
        job = await final_job(core, within=30)
    assert job.status is JobStatus.DELIVERED
    assert "video 1/2" in captions(tg_fake)[0] and len(captions(tg_fake)) == 1
    status = tg_fake.sent_texts(USER)[-1]
    assert "1 of 2 videos arrived. The other one did not: Keevx did not finish" in status


async def test_telegram_a_send_failing_between_two_videos_never_reposts_the_first(
    settings: Settings, sandbox: Sandbox, tg_fake: FakeTelegram
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=0.3)
    async with running(settings, tg_fake, timing=TIMING) as (core, _):
        tg_fake.photo_message(USER, "two takes --count 2", photo=_photo(tg_fake))
        _, second = await two_tasks(sandbox)
        later(second, 1.5)
        await tg_fake.wait_for("sendVideo", within=15)
        tg_fake.fail("sendVideo", 500, "Internal Server Error")  # the second send
        job = await final_job(core, within=30)
    assert job.status is JobStatus.DELIVERED and job.error is None
    sent = captions(tg_fake)
    assert len(sent) == 2 and "video 1/2" in sent[0] and "video 2/2" in sent[1]
    assert [c.status for c in tg_fake.calls_of("sendVideo")] == [200, 500, 200]
    assert all(t.arrived for t in job.tasks) and len(job.delivered_ids) == 2


# --- Discord ---------------------------------------------------------------------------------


async def two_takes(bot: Bot) -> dict[str, Any]:
    """``/video`` with one image and ``count: 2``."""
    image = bot.fake.add_attachment("photo.png", png())
    payload = bot.fake.slash(
        "video", {"prompt": "two takes", "count": 2}, attachments={"image": image}
    )
    return await bot.fake.push_interaction(payload)


async def discord_job(bot: Bot) -> Job:
    jobs: list[Job] = await bot.until(bot.jobs)
    return await bot.status_of(jobs[0].id, *OVER, within=30)


def results(bot: Bot, payload: dict[str, Any]) -> list[Any]:
    return [c for c in webhook_posts(bot.fake, payload["token"]) if c.files]


async def test_discord_one_failed_task_one_video_and_the_reason(
    settings: Settings, sandbox: Sandbox, dc_fake: FakeDiscord
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=1.0)
    async with running_bot(settings, dc_fake, sandbox, timing=TIMING) as bot:
        payload = await two_takes(bot)
        _, second = await two_tasks(sandbox)
        second.fail_reason = "Content moderation rejected the image"
        job = await discord_job(bot)
        status = bot.fake.messages[int(job.status_message_id or 0)]
        await bot.until(lambda: "arrived" in status["content"])
        charged = await bot.core.store.videos_since("discord", str(job.target.user_id), TODAY)
    assert job.status is JobStatus.DELIVERED
    (posted,) = results(bot, payload)
    assert posted.files[0][0] == f"keevx-{job.id}-1.mp4"
    assert "1 of 2 videos arrived" in status["content"] and "moderation" in status["content"]
    assert charged == 1


async def test_discord_a_send_failing_between_two_videos_never_reposts_the_first(
    settings: Settings, sandbox: Sandbox, dc_fake: FakeDiscord
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=0.3)
    async with running_bot(settings, dc_fake, sandbox, timing=TIMING) as bot:
        payload = await two_takes(bot)
        _, second = await two_tasks(sandbox)
        later(second, 1.5)
        posted: Callable[[], list[Any]] = lambda: results(bot, payload)  # noqa: E731
        await bot.until(posted)
        bot.fake.fail("POST", f"/webhooks/{bot.fake.APP_ID}/{payload['token']}", 503)
        job = await discord_job(bot)
    assert job.status is JobStatus.DELIVERED and job.error is None
    names = sorted(c.files[0][0] for c in results(bot, payload))
    assert names == [f"keevx-{job.id}-1.mp4", f"keevx-{job.id}-2.mp4"]  # each once
    assert all(t.arrived for t in job.tasks)
