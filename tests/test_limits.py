"""Access lists and fair-use limits: each refusal names the limit and when it frees up."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.app.runtime import Core
from bot.errors import LimitReached
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus, Target
from bot.settings import Settings
from tests.support import RecordingAdapter, submit


def target(
    user: str = "7", chat: str = "-100", platform: str = "test", guild: str | None = None
) -> Target:
    return Target(platform=platform, chat_id=chat, user_id=user, guild_id=guild)


async def test_access_lists(settings: Settings) -> None:
    limited = dataclasses.replace(
        settings,
        allowed_chats=frozenset({"-100", "telegram:-200"}),
        allowed_guilds=frozenset({"900"}),
        admin_users=frozenset({"discord:1"}),
    )
    async with Core(limited) as core:
        allows = core.service.allows
        assert allows(target(chat="-100")) and not allows(target(chat="-300"))
        assert allows(target(platform="telegram", chat="-200"))
        assert not allows(target(chat="-200"))  # qualified for telegram only
        assert allows(target(platform="discord", chat="5", guild="900"))
        assert not allows(target(platform="discord", chat="5", guild="901"))
        assert allows(target(platform="discord", user="1", chat="5", guild="901"))  # admin
        assert core.service.is_admin("discord", "1") and not core.service.is_admin("telegram", "1")


async def test_allowed_users(settings: Settings, tmp_path: Path) -> None:
    async with Core(dataclasses.replace(settings, allowed_users=frozenset({"8"}))) as core:
        with pytest.raises(LimitReached, match="not available here") as info:
            await submit(core.service, tmp_path, user="7")
        assert info.value.field == "ALLOWED" and not info.value.personal
        assert (await submit(core.service, tmp_path, user="8")).status is JobStatus.RECEIVED
        assert len(await core.store.recent()) == 1


async def test_max_active_per_user(settings: Settings, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=30)
    async with Core(dataclasses.replace(settings, max_active_per_user=2)) as core:
        await submit(core.service, tmp_path)
        await submit(core.service, tmp_path)
        with pytest.raises(LimitReached, match="2 video jobs in progress") as info:
            await submit(core.service, tmp_path)
        assert info.value.field == "MAX_ACTIVE_PER_USER" and info.value.personal
        await submit(core.service, tmp_path, user="someone-else")


async def test_daily_videos_and_give_backs(settings: Settings, tmp_path: Path) -> None:
    async with Core(dataclasses.replace(settings, daily_videos_per_user=3)) as core:
        first = await submit(core.service, tmp_path, "two --count 2")
        await core.service.cancel(first.id, "user-1")  # cancelled before Keevx: given back
        kept = await submit(core.service, tmp_path, "two --count 2")
        with pytest.raises(LimitReached, match="daily limit is 3 and you have 1 left") as info:
            await submit(core.service, tmp_path, "two --count 2")
        assert "00:00 UTC (in " in str(info.value) and info.value.field == "DAILY_VIDEOS_PER_USER"
        assert info.value.personal  # it tells the user's own usage: not for a group to read
        await core.store.update(kept.evolve(status=JobStatus.FAILED))  # failures give back too
        await submit(core.service, tmp_path, "two more --count 2")


async def test_usage_says_where_the_user_stands(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    """What /jobs shows: the detail a refusal in a group leaves out, plurals right."""
    sandbox.config = dataclasses.replace(sandbox.config, delay=30)
    limits = dataclasses.replace(settings, daily_videos_per_user=5, max_active_per_user=2)
    async with Core(limits) as core:
        active, daily = await core.service.usage("test", "user-1")
        assert active == "You have 0 video jobs in progress; at most 2 may run at once."
        assert daily.startswith("Today you have made 0 videos of the 5 allowed; the count")
        assert "starts again at 00:00 UTC (in " in daily
        await submit(core.service, tmp_path)
        active, daily = await core.service.usage("test", "user-1")
        assert active.startswith("You have 1 video job in progress")
        assert daily.startswith("Today you have made 1 video of the 5 allowed")
    async with Core(settings) as core:  # no limits: nothing to say
        assert await core.service.usage("test", "user-1") == ()


async def test_admins_are_exempt(settings: Settings, tmp_path: Path) -> None:
    strict = dataclasses.replace(
        settings, daily_videos_per_user=1, max_active_per_user=1, admin_users=frozenset({"boss"})
    )
    async with Core(strict) as core:
        for _ in range(3):
            await submit(core.service, tmp_path, user="boss")


async def test_max_active_total_queues_with_position(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=0.6)
    adapter = RecordingAdapter()
    positions: dict[int, list[int]] = {}
    original = adapter.show_status

    async def record(job):  # type: ignore[no-untyped-def]
        if job.queue_position is not None and job.status is JobStatus.RECEIVED:
            positions.setdefault(job.id, []).append(job.queue_position)
        return await original(job)

    adapter.show_status = record  # type: ignore[method-assign]
    async with Core(dataclasses.replace(settings, max_active_total=1)) as core:
        # All three wait before the poller starts, so the queue is seen whatever the load.
        jobs = [await submit(core.service, tmp_path, chat=f"c{n}") for n in range(3)]
        await core.attach(adapter)
        for job in jobs:
            await adapter.wait(job.id, timeout=30)
        stats = await core.service.stats()
        finals = [await core.service.get(j.id) for j in jobs]
    assert all(j is not None and j.status is JobStatus.DELIVERED for j in finals)
    assert jobs[0].id not in positions  # the first starts at once
    third = positions[jobs[2].id]
    assert third == sorted(third, reverse=True) and third[0] > third[-1] >= 1  # it moves up
    submitted = sorted(j.submitted_at for j in finals if j and j.submitted_at)
    delivered = sorted(j.finished_at for j in finals if j and j.finished_at)
    assert submitted[1] >= delivered[0] and submitted[2] >= delivered[1]  # one at a time
    assert stats.by_status == {JobStatus.DELIVERED: 3} and stats.videos_delivered == 3
    assert stats.queue_length == 0 and stats.failures == 0


async def test_stats_count_failures(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path, "please #fail")
        await adapter.wait(job.id)
        await asyncio.sleep(0)
        stats = await core.service.stats()
    assert stats.failures == 1 and stats.jobs == 1
