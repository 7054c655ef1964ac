"""A bot process for the crash tests: submits jobs, and SIGKILLs itself at a chosen point.

Run as ``python -m tests.crash_worker`` with the settings in the environment, plus
CRASH_AT (a job status, ``created`` for "the create answer arrived but was not
committed", ``sending`` / ``sent`` for "inside the platform send"), JOBS (how many
to submit; 0 on a restart) and DELIVERIES (a file: one line per video posted).
SEND_SECONDS makes each send that slow (it prints ``sending <job id>`` as it starts)
and LEASE_SECONDS shortens the job lease, for killing a process mid-delivery.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.base import Video
from bench.common import QuietAdapter
from bot.app.runtime import Core
from bot.jobs.pipeline import Timing
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from tests.support import photo, submit

CRASH_AT = os.environ.get("CRASH_AT", "")
SEND_SECONDS = float(os.environ.get("SEND_SECONDS", "0"))


def die() -> None:
    print(f"killed at {CRASH_AT}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


class FileAdapter(QuietAdapter):
    """Posting a video = appending a line to a file (fsynced, like a message that went out)."""

    platform = "test"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def show_status(self, job: Job) -> str | None:
        return "status"

    async def deliver(self, job: Job, video: Video) -> str:
        if CRASH_AT == "sending":
            die()
        if SEND_SECONDS:
            print(f"sending {job.id}", flush=True)
            await asyncio.sleep(SEND_SECONDS)
        with self.path.open("a") as out:
            out.write(f"{job.id}\n")
            out.flush()
            os.fsync(out.fileno())
        if CRASH_AT == "sent":
            die()
        return f"{job.id}-{video.number}"


def arm(core: Core) -> None:
    """Kill the process right after the first commit of CRASH_AT's status."""
    store, keevx = core.store, core.keevx
    real_add, real_update, real_create = store.add, store.update, keevx.create

    async def add(job: Job, **kwargs: Any) -> tuple[Job, bool]:
        result = await real_add(job, **kwargs)
        if CRASH_AT == JobStatus.RECEIVED:
            die()
        return result

    async def update(job: Job, **kwargs: Any) -> Job:
        result = await real_update(job, **kwargs)
        if result.status == CRASH_AT:
            die()
        return result

    async def create(body: dict[str, Any]) -> list[str]:
        ids = await real_create(body)
        if CRASH_AT == "created":
            die()
        return ids

    store.add = add  # type: ignore[method-assign]
    store.update = update  # type: ignore[method-assign]
    keevx.create = create  # type: ignore[method-assign]


async def main() -> int:
    settings = Settings.from_env()
    jobs = int(os.environ.get("JOBS", "0"))
    work = Path(os.environ["WORK"])
    timing = None
    if lease := float(os.environ.get("LEASE_SECONDS", "0")):
        timing = Timing(
            poll_interval=timedelta(seconds=settings.poll_interval),
            poll_timeout=timedelta(seconds=settings.poll_timeout),
            lease=timedelta(seconds=lease),
        )
    async with Core(settings, timing=timing) as core:
        arm(core)
        for n in range(jobs):  # all in before the poller starts at attach()
            photo(work, f"in-{n}.jpg")
            await submit(core.service, work, f"job {n}", chat=f"c{n}")
        await core.attach(FileAdapter(Path(os.environ["DELIVERIES"])))
        settle = float(os.environ.get("SETTLE", "0"))  # time for late callbacks to arrive
        while True:
            current = await core.store.recent(limit=100)
            if current and all(j.status.terminal for j in current):
                if settle <= 0 or all(j.status is JobStatus.DELIVERED for j in current):
                    break
                await asyncio.sleep(settle)
                settle = 0
                continue
            await asyncio.sleep(0.05)
    print("all terminal", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
