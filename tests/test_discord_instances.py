"""Discord with several instances: one holds the gateway, any of them shows and delivers.

In one process: two adapters on one store, as two instances, where the one that
received a slash command is not the one whose poller works its job. Then two real
``python -m bot`` processes on one PostgreSQL database: exactly one connects the
gateway, and when it is killed the other takes over.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pytest

from adapters.base import Lead
from adapters.discord import DiscordAdapter
from adapters.discord.endpoints import point_at
from bot.app.runtime import Core
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from storage import open_store
from tests.fakes.discord import FakeDiscord
from tests.support import stop_processes
from tests.test_discord_adapter import (
    OVER,
    USER,
    Bot,
    channel_posts,
    discord_settings,
    png,
    running_bot,
    slash_video,
)

ROOT = Path(__file__).resolve().parent.parent
TAKEOVER_BOUND = 30.0  # seconds from the leader's death to another instance's gateway


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running:
        yield running
        assert not running.unknown, running.unknown


class Standby:
    """An election this instance never wins (another one holds the gateway)."""

    async def try_lead(self, name: str) -> Lead | None:
        return None


# --- a job shown and delivered by an instance that did not receive it ------------------


async def test_another_instance_shows_and_delivers_a_slash_job(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    s = discord_settings(settings, fake)
    async with Core(s, stop_grace=2.0) as core:
        receiver = DiscordAdapter(s, core.service, shared=core.shared, guild_ready_timeout=0.05)
        worker = DiscordAdapter(s, core.service, shared=core.shared, leadership=Standby())
        await receiver.start()
        await worker.start()
        try:
            await core.attach(worker)  # the poller shows and delivers through the worker only
            await fake.wait_ready()
            bot = Bot(fake, sandbox, core, receiver)
            payload = await slash_video(bot)
            [job] = await bot.until(lambda: bot.jobs())
            job = await bot.status_of(job.id, *OVER)
            assert receiver.leading and not worker.leading
        finally:
            await core.poller.stop(2.0)
            await worker.stop()
            await receiver.stop()
            point_at()
    assert job.status is JobStatus.DELIVERED, job.error
    assert fake.connections == 1
    token = payload["token"]
    [callback] = fake.find_calls("POST", f"/interactions/{payload['id']}/{token}/callback")
    assert callback.json["type"] == 5  # the receiver deferred: "thinking…"
    # The receiver showed the first status in its response (so no "thinking…" is left);
    # the worker had no token, yet every later status went into that same message (no
    # second status message), edited with the bot token.
    response = fake._interactions[token]["original"]
    assert job.status_message_id == str(response)
    [first] = fake.find_calls("PATCH", f"/webhooks/{fake.APP_ID}/{token}/messages/@original")
    assert "Job" in first.json["content"]
    edits = fake.find_calls("PATCH", f"/channels/{FakeDiscord.CHANNEL_ID}/messages/{response}")
    assert edits and all(c.authorized for c in edits) and edits[0].at > first.at
    assert "done" in fake.messages[response]["content"]
    assert not fake.find_calls("POST", f"/webhooks/{fake.APP_ID}/{token}")
    # The video went to the channel with the bot token, pinging the requester only.
    [post] = channel_posts(fake)
    assert post.files and post.authorized and post.json["content"].startswith(f"<@{USER}>")


async def test_global_commands_sync_once_for_instances_on_postgresql(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox, pg_url: str
) -> None:
    on_pg = replace(settings, database_url=pg_url)
    for _ in range(2):  # one instance, then another (or the same, restarted)
        async with running_bot(on_pg, fake, sandbox, guild_ids=()):
            pass
    assert len(fake.find_calls("PUT", f"/applications/{fake.APP_ID}/commands")) == 1


# --- two real processes, the gateway's holder killed -----------------------------------------


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def leads(self) -> bool:
        return "this instance leads" in self.log()


async def start_process(
    name: str, *, pg_url: str, fake: FakeDiscord, sandbox: Sandbox, machine: Path
) -> Process:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(machine),
        "KEEVX_API_KEY": "sk-discord-instances",
        "KEEVX_BASE_URL": sandbox.base_url,
        "KEEVX_MAX_RPS": "0",
        "DATABASE_URL": pg_url,
        "DISCORD_BOT_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "DISCORD_GUILD_IDS": str(FakeDiscord.GUILD_ID),
        "POLL_INTERVAL": "0.5",
        "POLL_STRATEGY": "fixed",
        "MAX_ACTIVE_PER_USER": "0",
        "DAILY_VIDEOS_PER_USER": "0",
        "LOG_LEVEL": "INFO",
    }
    log_path = machine / f"{name}.log"
    log_file = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot"),
        cwd=machine,
        env=env,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Process(name, process, log_path, log_file)


@asynccontextmanager
async def two_processes(
    *, pg_url: str, fake: FakeDiscord, sandbox: Sandbox, machine: Path
) -> AsyncIterator[list[Process]]:
    machine.mkdir(exist_ok=True)
    started = [
        await start_process(n, pg_url=pg_url, fake=fake, sandbox=sandbox, machine=machine)
        for n in ("d0", "d1")
    ]
    try:
        for p in started:
            await until(functools.partial(_running, p), p, within=30)
        yield started
    finally:
        await stop_processes(started)
        for p in started:
            assert fake.token not in p.log(), f"the bot token is in {p.name}'s log"


def _running(process: Process) -> bool:
    return "discord is running" in process.log()


async def until(
    check: Callable[[], bool], watched: Process | None = None, within: float = 30.0
) -> None:
    """Wait for ``check()``; on a timeout, show the end of ``watched``'s log."""
    try:
        async with asyncio.timeout(within):
            while not check():
                await asyncio.sleep(0.1)
    except TimeoutError:
        tail = watched.log()[-3000:] if watched is not None else ""
        raise AssertionError(f"timed out waiting ({within} s)\n{tail}") from None


async def finished_jobs(pg_url: str, count: int) -> list[Job]:
    """Wait for ``count`` jobs, all finished."""
    async with asyncio.timeout(60):
        while True:
            store = await open_store(pg_url)
            try:
                jobs = await store.recent(limit=100)
            finally:
                await store.close()
            if len(jobs) >= count and all(j.status.terminal for j in jobs):
                return jobs
            await asyncio.sleep(0.3)


async def slash(fake: FakeDiscord, prompt: str) -> dict[str, Any]:
    image = fake.add_attachment("photo.png", png())
    payload = fake.slash("video", {"prompt": prompt}, attachments={"image": image})
    return await fake.push_interaction(payload)


async def test_one_process_holds_the_gateway_and_another_takes_over_when_it_dies(
    pg_url: str, tmp_path: Path, fake: FakeDiscord
) -> None:
    config = SandboxConfig(delay=0.5, render_height=36, seed=13)
    async with (
        Sandbox(config) as sandbox,
        two_processes(pg_url=pg_url, fake=fake, sandbox=sandbox, machine=tmp_path / "m") as procs,
    ):
        await fake.wait_ready()
        await until(lambda: sum(p.leads for p in procs) == 1)
        [leader] = [p for p in procs if p.leads]
        [other] = [p for p in procs if not p.leads]
        await slash(fake, "waves before")
        await finished_jobs(pg_url, 1)
        assert fake.connections == 1  # the other tried at its start, and stands by

        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        killed_at = asyncio.get_running_loop().time()
        await until(
            lambda: fake.connections == 2 and fake.identified.is_set(), other, within=TAKEOVER_BOUND
        )
        took = asyncio.get_running_loop().time() - killed_at
        assert other.leads
        await slash(fake, "waves after")
        jobs = await finished_jobs(pg_url, 2)
    assert took < TAKEOVER_BOUND
    assert sorted(j.request.prompt for j in jobs) == ["waves after", "waves before"]
    assert all(j.status is JobStatus.DELIVERED for j in jobs), [(j.id, j.error) for j in jobs]
    assert sum(1 for c in sandbox.calls if c.path.endswith("/image_to_video")) == 2
    assert fake.connections == 2
