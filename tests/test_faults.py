"""Under injected 429s, 500s and dropped connections, every job is delivered exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bot.app.runtime import Core
from bot.jobs.pipeline import Timing
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.support import RecordingAdapter, free_port, submit


async def test_hundred_jobs_through_faults_each_delivered_once(
    settings: Settings, tmp_path: Path
) -> None:
    faulty = SandboxConfig(delay=0.3, render_height=36, fault_rate=1 / 3, seed=11)
    port = free_port()
    async with Sandbox(faulty) as sandbox:
        settings = dataclasses.replace(
            settings,
            keevx_base_url=sandbox.base_url,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            poll_concurrency=16,
        )
        timing = Timing(
            poll_interval=timedelta(seconds=0.2),
            poll_timeout=timedelta(seconds=60),
            backoff_base=timedelta(seconds=0.05),
            max_attempts=50,
        )
        telegram, discord = RecordingAdapter("telegram"), RecordingAdapter("discord")
        async with Core(settings, timing=timing) as core:
            await core.attach(telegram, discord)
            jobs = [
                await submit(
                    core.service,
                    tmp_path,
                    platform=("telegram", "discord")[n % 2],
                    chat=f"chat-{n}",
                )
                for n in range(100)
            ]

            async def all_done() -> None:
                while True:
                    current = [await core.service.get(j.id) for j in jobs]
                    if all(j is not None and j.status.terminal for j in current):
                        return
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(all_done(), 90)
            finals = [await core.service.get(j.id) for j in jobs]
    faults = Counter(c.fault for c in sandbox.calls if c.fault)
    assert set(faults) == {"429", "500", "drop"} and sum(faults.values()) > 100
    statuses = Counter(j.status for j in finals if j is not None)
    assert statuses == {JobStatus.DELIVERED: 100}, statuses
    delivered = Counter(j for j, _ in telegram.delivered + discord.delivered)
    assert delivered == {j.id: 1 for j in jobs}
    per_job = Counter(t.request["callback_url"].split("/")[-2] for t in sandbox.tasks.values())
    assert max(per_job.values()) == 1 and len(per_job) == 100  # one task per job, none twice
    assert {j.create_requests for j in finals if j} == {1}  # the store's own count agrees
    adopted = [j for j in finals if j is not None and j.adopted]
    assert adopted, "some create answers were dropped and recovered by their callback"
