"""The engine's promises across real processes: one bot per SQLite file, and a SIGKILL
during a long delivery neither lets a second worker post meanwhile nor loses the video."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from storage import SqliteJobStore
from tests.fakes.discord import FakeDiscord
from tests.test_crash import ROOT, run_worker
from tests.test_shutdown import start_bot, stop_bot


async def test_a_second_bot_on_the_same_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with FakeDiscord() as fake, Sandbox(SandboxConfig(delay=1, render_height=36)) as sandbox:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
            "KEEVX_API_KEY": "sk-two-processes",
            "KEEVX_BASE_URL": sandbox.base_url,
            "DATABASE_URL": f"sqlite:///{db}",
            "DISCORD_BOT_TOKEN": "fake-token",
            "DISCORD_API_URL": fake.api_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "POLL_INTERVAL": "0.2",
        }
        first = await start_bot(env)
        await fake.wait_ready()
        second = await start_bot(env)
        out, _ = await asyncio.wait_for(second.communicate(), 20)
        await stop_bot(first)
    lines = out.decode().strip().splitlines()
    assert second.returncode == 2
    assert lines[-1] == (
        f"keevx-bot: another keevx-bot process is already running on {db}: "
        "stop it first (one process per SQLite file)"
    )
    assert "Traceback" not in out.decode()


async def test_sigkill_during_a_long_delivery_posts_once(tmp_path: Path) -> None:
    deliveries = tmp_path / "deliveries.txt"
    deliveries.touch()
    async with Sandbox(SandboxConfig(delay=0.5, render_height=36)) as sandbox:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KEEVX_API_KEY": "crash-test-key",
            "KEEVX_BASE_URL": sandbox.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "POLL_INTERVAL": "0.1",
            "MAX_ACTIVE_PER_USER": "0",
            "DAILY_VIDEOS_PER_USER": "0",
            "DELIVERIES": str(deliveries),
            "WORK": str(tmp_path / "work"),
        }
        # The send takes 3 s under a 0.5 s lease: the worker must keep renewing it.
        slow = {**env, "JOBS": "1", "SEND_SECONDS": "3", "LEASE_SECONDS": "0.5"}
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.crash_worker"),
            cwd=ROOT,
            env=slow,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while b"sending" not in (line := await process.stdout.readline()):
                assert line, "the worker ended before sending"
        await asyncio.sleep(2.0)  # four lease lengths into the send
        process.send_signal(signal.SIGKILL)
        rest, _ = await process.communicate()
        assert b"sending" not in rest  # nobody else started posting the video meanwhile
        code, out = await run_worker({**env, "JOBS": "0"})
        assert code == 0 and "all terminal" in out, out
        store = await SqliteJobStore.open(f"{tmp_path}/bot.db")
        (job,) = await store.recent()
        await store.close()
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
    assert job.status is JobStatus.DELIVERED and job.create_requests == 1
    assert Counter(deliveries.read_text().split()) == {str(job.id): 1}
    assert len(creates) == 1
