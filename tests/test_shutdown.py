"""``python -m bot`` for real: SIGTERM stops it cleanly, and the next start finishes the job.

The bot runs as a subprocess with a Discord token, against the fake Discord and the
Keevx sandbox running in the test process (both outlive the bot).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from storage import SqliteJobStore
from tests.fakes.discord import FakeDiscord
from tests.test_discord_adapter import png

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-shutdown-test-key"


async def start_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def stop_bot(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def job_status(db: str) -> JobStatus | None:
    store = await SqliteJobStore.open(db)
    try:
        jobs = await store.recent(limit=1)
    finally:
        await store.close()
    return jobs[0].status if jobs else None


async def wait_status(db: str, *wanted: JobStatus) -> None:
    async with asyncio.timeout(30):
        while await job_status(db) not in wanted:
            await asyncio.sleep(0.1)


async def test_sigterm_is_graceful_and_the_next_start_delivers(tmp_path: Path) -> None:
    db = str(tmp_path / "bot.db")
    async with FakeDiscord() as fake, Sandbox(SandboxConfig(delay=3, render_height=36)) as sandbox:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
            "KEEVX_API_KEY": KEY,
            "KEEVX_BASE_URL": sandbox.base_url,
            "DATABASE_URL": f"sqlite:///{db}",
            "DISCORD_BOT_TOKEN": "fake-token",
            "DISCORD_API_URL": fake.api_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DISCORD_GUILD_IDS": str(FakeDiscord.GUILD_ID),
            "POLL_INTERVAL": "0.2",
            "LOG_LEVEL": "DEBUG",
        }
        first = await start_bot(env)
        await fake.wait_ready()
        image = fake.add_attachment("photo.png", png())
        payload = fake.slash("video", {"prompt": "waves"}, attachments={"image": image})
        await fake.push_interaction(payload)
        await wait_status(db, JobStatus.SUBMITTED)
        fake.identified.clear()
        log = await stop_bot(first)  # mid-generation: the job stays for the next start
        assert await job_status(db) is JobStatus.SUBMITTED
        assert "stopping" in log

        second = await start_bot(env)
        try:
            await wait_status(db, JobStatus.DELIVERED)
        except TimeoutError:
            second.kill()
            out, _ = await second.communicate()
            raise AssertionError(out.decode()[-3000:]) from None
        log += await stop_bot(second)
        videos = [
            c
            for c in fake.calls
            if c.method in ("POST", "PATCH")
            and c.files
            and any(name.endswith(".mp4") for name, _ in c.files)
        ]
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
    assert len(videos) == 1 and len(creates) == 1
    for secret in (KEY, "fake-token", payload["token"]):
        leaks = [line for line in log.splitlines() if secret in line]
        assert not leaks, leaks  # DEBUG logs of two whole runs hold no secret
