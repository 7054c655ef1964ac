"""Benchmark 2: many jobs in flight in one process: memory, CPU per poll cycle, resume time.

``python -m bench.scale [--jobs 10000]``. The sandbox runs in a child process
(:mod:`bench.sandbox_proc`) so the numbers are the bot's alone. ``--jobs``
Keevx tasks are created (render time: one hour, so they stay in flight) and
stored as ``submitted`` jobs; then, in this process:

1. a Core (adaptive schedule, the default settings) runs with all of them;
   resident memory is read from /proc/self/status;
2. a poll cycle: every job is made due at once and the CPU time until each
   was checked once is measured (real seconds: nothing is time-scaled here);
3. a restart: every job is left leased, as by a killed process, and due
   (the bot was down); the time from opening a new Core to its first status
   query is "resume", and the time until all were checked again is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchAdapter,
    cpu_seconds,
    photo,
    rss_mb,
    target,
    wait_until,
    write_result,
)
from bench.poll import POLL_INTERVAL, POLL_TIMEOUT
from bot.app.runtime import Core, utcnow
from bot.keevx.client import KeevxClient
from bot.model.job import Job, JobStatus, TaskResult, TaskState
from bot.model.request import Options, build_request
from bot.settings import Settings
from storage import SqliteJobStore


async def fill(db: Path, base_url: str, jobs: int, folder: Path) -> None:
    """Create ``jobs`` Keevx tasks and store them as submitted jobs, not due for an hour."""
    request = build_request("bench waves", Options(), 1)
    async with httpx.AsyncClient(timeout=30) as http:
        keevx = KeevxClient("bench-key", base_url, http=http)
        image = photo(folder, 0)
        uploaded = await keevx.upload(image, content_type="image/jpeg", file_name=image.name)
        body = request.keevx_body([uploaded.url])
        task_ids: list[str] = []
        for start in range(0, jobs, 200):
            batch = await asyncio.gather(
                *(keevx.create(body) for _ in range(min(200, jobs - start)))
            )
            task_ids.extend(ids[0] for ids in batch)
    store = await SqliteJobStore.open(str(db))
    now = utcnow()
    try:
        for n, task_id in enumerate(task_ids):
            await store.add(
                Job(
                    id=0,
                    target=target(n),
                    request=request,
                    status=JobStatus.SUBMITTED,
                    created_at=now,
                    updated_at=now,
                    next_run_at=now + timedelta(hours=1),
                    image_urls=(uploaded.url,),
                    tasks=(TaskResult(task_id=task_id, status=TaskState.PROCESSING),),
                    submitted_at=now,
                )
            )
    finally:
        await store.close()


def make_all_due(db: Path, *, leased: bool) -> None:
    """Every job due now; with ``leased``, as a killed process would leave them."""
    with sqlite3.connect(db, timeout=30) as conn:
        lease = time.time() + 600 if leased else None
        conn.execute("UPDATE jobs SET next_run_at = ?, lease_until = ?", (time.time(), lease))


class Counting:
    """Counts the Core's status queries (wraps its Keevx client's ``query``)."""

    def __init__(self, core: Core) -> None:
        self.count = 0
        self.first: float | None = None
        original = core.keevx.query

        async def query(task_id: str):  # type: ignore[no-untyped-def]
            self.count += 1
            if self.first is None:
                self.first = time.perf_counter()
            return await original(task_id)

        core.keevx.query = query  # type: ignore[method-assign]

    async def reach(self, n: int, limit: float = 600) -> None:
        await wait_until(lambda: self.count >= n, limit, 0.005)


async def run(jobs: int) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sandbox_proc",
        "--delay",
        "36000",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    base_url = (await child.stdout.readline()).decode().strip()
    result: dict[str, Any] = {"jobs": jobs}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            db = Path(tmp) / "bot.db"
            t = time.perf_counter()
            await fill(db, base_url, jobs, Path(tmp) / "in")
            result["fill_s"] = round(time.perf_counter() - t, 1)
            settings = Settings(
                keevx_api_key="bench-key",
                keevx_base_url=base_url,
                keevx_max_rps=0,
                database_url=f"sqlite:///{db}",
                poll_interval=POLL_INTERVAL,
                poll_timeout=POLL_TIMEOUT * 10,  # nothing expires during the run
                max_active_per_user=0,
                daily_videos_per_user=0,
            )
            result["rss_before_core_mb"] = round(rss_mb()[0], 1)
            adapter = BenchAdapter(asyncio.get_running_loop().time)
            async with Core(settings, stop_grace=0) as core:
                await core.attach(adapter)
                await asyncio.sleep(1.0)
                result["rss_idle_mb"] = round(rss_mb()[0], 1)
                counter = Counting(core)
                make_all_due(db, leased=False)
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                core.poller.wake()
                await counter.reach(jobs)
                cycle_cpu, cycle_wall = cpu_seconds() - cpu0, time.perf_counter() - t0
                result["cycle_checked"] = counter.count
                result["cycle_cpu_s"] = round(cycle_cpu, 2)
                result["cycle_wall_s"] = round(cycle_wall, 2)
                result["cpu_ms_per_check"] = round(1000 * cycle_cpu / max(counter.count, 1), 3)
                await asyncio.sleep(0.5)
                cpu0 = cpu_seconds()
                await asyncio.sleep(5.0)
                result["idle_cpu_share"] = round((cpu_seconds() - cpu0) / 5.0, 3)
                result["rss_mb"], result["rss_peak_mb"] = (round(v, 1) for v in rss_mb())
            make_all_due(db, leased=True)
            t0 = time.perf_counter()
            async with Core(settings, stop_grace=0) as core:
                opened = time.perf_counter()
                counter = Counting(core)
                await core.attach(adapter)
                await counter.reach(1)
                resumed = time.perf_counter()
                await counter.reach(jobs)
                done = time.perf_counter()
            result["restart_open_s"] = round(opened - t0, 3)
            result["restart_first_query_s"] = round(resumed - t0, 3)
            result["restart_all_checked_s"] = round(done - t0, 2)
            result["restart_checks_per_s"] = round(jobs / (done - resumed), 1)
            result["rss_final_peak_mb"] = round(rss_mb()[1], 1)
    finally:
        await child.communicate(b"")  # closes its stdin; it answers with its report
    result["goals"] = {
        "rss_lt_200mb": result["rss_peak_mb"] < 200,
        "resume_lt_2s": result["restart_first_query_s"] < 2,
    }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--out", default="scale")
    args = p.parse_args(argv)
    print(f"scale: {args.jobs} jobs in flight …", flush=True)
    result = asyncio.run(run(args.jobs))
    path = write_result(args.out, result)
    print(json.dumps(result), f"-> {path}")
    return result


if __name__ == "__main__":
    main()
