"""Keevx callbacks: delivered at once, confirmed by a query, strangers ignored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from bot.app.runtime import Core
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.support import RecordingAdapter, callback_settings, submit


def queries(sandbox: Sandbox) -> list[object]:
    return [c for c in sandbox.calls if c.method == "GET" and "/image_to_video/" in c.path]


async def test_callback_delivers_without_waiting_for_a_poll(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = callback_settings(settings)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{settings.public_url}/healthz")
            assert health.json() == {"status": "ok"}
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id, timeout=10)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.DELIVERED
    (task,) = sandbox.tasks.values()
    assert task.request["callback_url"].startswith(f"{settings.public_url}/keevx/callback/")
    assert len(queries(sandbox)) == 1  # the callback was confirmed by exactly one query


async def test_forged_or_unknown_callbacks_change_nothing(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = callback_settings(settings)
    sandbox.config = dataclasses.replace(sandbox.config, delay=3600)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        while (current := await core.service.get(job.id)) and current.status != JobStatus.SUBMITTED:
            await adapter_tick()
        assert current is not None
        url = next(iter(sandbox.tasks.values())).request["callback_url"]
        body = {"code": 0, "data": {"task_id": current.tasks[0].task_id, "status": "SUCCEEDED"}}
        async with httpx.AsyncClient() as http:
            forged = await http.post(url[:-4] + "0000", json=body)
            unknown = await http.post(url, json={"data": {"task_id": "i2v-stranger"}})
            garbage = await http.post(url, content=b"not json")
            real = await http.post(url, json=body)
        assert (forged.status_code, unknown.status_code, garbage.status_code) == (404, 200, 400)
        assert real.status_code == 200
        await adapter_tick(0.3)
        after = await core.service.get(job.id)
    # The body said SUCCEEDED, but Keevx's own answer (still processing) decides.
    assert after is not None and after.status is JobStatus.SUBMITTED
    assert len(queries(sandbox)) == 1 and adapter.delivered == []


async def adapter_tick(seconds: float = 0.02) -> None:
    import asyncio

    await asyncio.sleep(seconds)
