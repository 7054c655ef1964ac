"""kill -9 at every state boundary, then start again: nothing lost, nothing twice.

The bot runs in a subprocess that SIGKILLs itself right after committing a given
status (or inside the platform send); the Keevx sandbox lives in the test process
and outlives it, callbacks included.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from storage import SqliteJobStore
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
JOBS = 2


async def run_worker(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.parametrize(
    "crash_at",
    ["received", "uploading", "submitting", "created", "submitted", "succeeded", "sending", "sent"],
)
async def test_kill_and_restart(crash_at: str, tmp_path: Path) -> None:
    port = free_port()
    deliveries = tmp_path / "deliveries.txt"
    deliveries.touch()
    async with Sandbox(SandboxConfig(delay=2.5, render_height=36)) as sandbox:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KEEVX_API_KEY": "crash-test-key",
            "KEEVX_BASE_URL": sandbox.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "POLL_INTERVAL": "0.2",
            "POLL_CONCURRENCY": "1",  # one job at a time: the kill hits the first job
            "MAX_ACTIVE_PER_USER": "0",
            "DAILY_VIDEOS_PER_USER": "0",
            "DELIVERIES": str(deliveries),
            "WORK": str(tmp_path / "work"),
        }
        code, out = await run_worker({**env, "JOBS": str(JOBS), "CRASH_AT": crash_at})
        assert code == -9 and f"killed at {crash_at}" in out, out
        code, out = await run_worker({**env, "JOBS": "0", "CRASH_AT": "", "SETTLE": "4"})
        assert code == 0 and "all terminal" in out, out
        store = await SqliteJobStore.open(f"{tmp_path}/bot.db")
        jobs = await store.recent()
        await store.close()
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
    if crash_at == "received":
        assert len(jobs) == 1  # killed right after the first job's commit: the second never came
    else:
        assert len(jobs) == JOBS
    outcome = Counter(j.status for j in jobs)
    assert all(j.create_requests <= 1 for j in jobs)  # never a second create that may charge
    posted = Counter(int(line) for line in deliveries.read_text().split())
    if crash_at == "submitting":
        # Killed after committing `submitting`, before the POST: the restart cannot know
        # whether Keevx got it, so that job is `unknown` (never resent); the other is delivered.
        assert outcome == {JobStatus.UNKNOWN: 1, JobStatus.DELIVERED: 1}
        assert len(creates) == 1
        (delivered,) = [j.id for j in jobs if j.status is JobStatus.DELIVERED]
        assert posted == {delivered: 1}
        return
    # "created" (answer lost) ends delivered too: the task's callback is adopted.
    assert outcome == {JobStatus.DELIVERED: len(jobs)}, [(j.id, j.status, j.error) for j in jobs]
    assert len(creates) == len(jobs)  # no job ever submitted twice
    if crash_at == "sent":
        # Killed after the message went out but before it was recorded: that one repeats.
        assert sorted(posted.values()) == [1, 2]
    else:
        assert posted == {j.id: 1 for j in jobs}
