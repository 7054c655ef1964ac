"""100 jobs through the real Telegram and Discord adapters while Keevx faults a third of calls.

Every job is delivered exactly once, with exactly one Keevx task, on both platforms.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import timedelta

from adapters.discord import DiscordAdapter
from adapters.discord.endpoints import point_at
from adapters.telegram import TelegramAdapter
from bot.app.runtime import Core
from bot.jobs.pipeline import Timing
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.support import free_port
from tests.test_discord_adapter import png
from tests.test_telegram_adapter import TOKEN

JOBS_EACH = 50


async def test_hundred_jobs_on_both_platforms_through_faults(settings: Settings) -> None:
    faulty = SandboxConfig(delay=0.3, render_height=36, reuse_video=True, fault_rate=1 / 3, seed=5)
    port = free_port()
    async with (
        FakeTelegram(TOKEN) as tg,
        FakeDiscord() as dc,
        Sandbox(faulty) as sandbox,
    ):
        s = dataclasses.replace(
            settings,
            keevx_base_url=sandbox.base_url,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            poll_concurrency=16,
            telegram_bot_token=TOKEN,
            telegram_api_url=tg.url,
            discord_bot_token=dc.token,
            discord_api_url=dc.api_url,
            discord_gateway_url=dc.gateway_url,
            discord_guild_ids=(FakeDiscord.GUILD_ID,),
        )
        timing = Timing(
            poll_interval=timedelta(seconds=0.2),
            poll_timeout=timedelta(seconds=60),
            backoff_base=timedelta(seconds=0.05),
            max_attempts=50,
        )
        async with Core(s, timing=timing) as core:
            telegram = TelegramAdapter(
                s, core.service, shared=core.shared, status_interval=0.5, updates_timeout=5
            )
            discord = DiscordAdapter(s, core.service, shared=core.shared, guild_ready_timeout=0.05)
            await core.start_web()
            await telegram.start()
            await discord.start()
            try:
                await core.attach(telegram, discord)
                await dc.wait_ready()
                for n in range(JOBS_EACH):
                    tg.photo_message(5000 + n, f"telegram job {n}")
                    image = dc.add_attachment(f"p{n}.png", png(color=(n * 5, 80, 80)))
                    payload = dc.slash(
                        "video", {"prompt": f"discord job {n}"}, attachments={"image": image}
                    )
                    await dc.push_interaction(payload)

                async def all_done() -> None:
                    while True:
                        jobs = await core.store.recent(limit=500)
                        if len(jobs) == 2 * JOBS_EACH and all(j.status.terminal for j in jobs):
                            return
                        await asyncio.sleep(0.2)

                await asyncio.wait_for(all_done(), 120)
                jobs = await core.store.recent(limit=500)
            finally:
                await core.poller.stop(5)
                await telegram.stop()
                await discord.stop()
                point_at()
    faults = Counter(c.fault for c in sandbox.calls if c.fault)
    assert set(faults) == {"429", "500", "drop"}
    assert Counter(j.status for j in jobs) == {JobStatus.DELIVERED: 2 * JOBS_EACH}
    assert Counter(j.platform for j in jobs) == {"telegram": JOBS_EACH, "discord": JOBS_EACH}
    # One task per job, none created twice.
    per_job = Counter(t.request["callback_url"].split("/")[-2] for t in sandbox.tasks.values())
    assert len(per_job) == 2 * JOBS_EACH and set(per_job.values()) == {1}
    assert {j.create_requests for j in jobs} == {1}  # the store's own count agrees
    # Exactly one video message per job on each platform.
    videos = Counter(c.params["chat_id"] for c in tg.calls_of("sendVideo") if c.status == 200)
    assert len(videos) == JOBS_EACH and set(videos.values()) == {1}
    posted = [
        c for c in dc.calls if c.status < 300 and any(name.endswith(".mp4") for name, _ in c.files)
    ]
    assert len(posted) == JOBS_EACH
