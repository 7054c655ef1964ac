"""Benchmark 1: poll cost and delivery delay, fixed vs adaptive polling vs callbacks.

``python -m bench.poll`` (``--help`` for sizes). Jobs arrive at random over
``--arrivals`` world seconds; each Keevx task takes a render time drawn for its
kind (:data:`bench.common.KINDS`). Per strategy, on a fresh database and sandbox:

* ``fixed``: Keevx's recipe, a check every POLL_INTERVAL (30 s): the baseline;
* ``adaptive``: :class:`bot.jobs.schedule.AdaptiveSchedule`, with a history of
  ``--history`` finished tasks per kind in the store (a bot that has been
  running; ``adaptive-cold`` starts with nothing learned);
* ``callbacks``: PUBLIC_URL set, Keevx calls back; polling is a safety net.

Measured: status queries per job (GET /image_to_video/{id} seen by the
sandbox) and delay from the task's due time (sandbox clock) to the adapter
receiving the video, in world seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    KINDS,
    BenchAdapter,
    World,
    cpu_seconds,
    free_port,
    machine,
    percentile,
    photo,
    target,
    wait_until,
    write_result,
)
from bot.app.runtime import Core, utcnow
from bot.jobs.durations import kind_of
from bot.settings import Settings
from storage import SqliteJobStore

STRATEGIES = ("fixed", "adaptive", "callbacks", "adaptive-cold")
POLL_INTERVAL, POLL_TIMEOUT = 30.0, 1200.0


async def seed_history(path: Path, world: World, per_kind: int) -> None:
    """Store ``per_kind`` finished tasks of each kind (scaled), as a running bot would have."""
    store = await SqliteJobStore.open(str(path))
    try:
        for kind in KINDS:
            key = kind_of(kind.request())
            for _ in range(per_kind):
                await store.record_duration(key, world.real(world.draw(kind)), utcnow())
    finally:
        await store.close()


async def start_sandbox(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """The sandbox in a child process (:mod:`bench.sandbox_proc`); returns it and its URL."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sandbox_proc",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**26,
    )
    assert child.stdout is not None
    return child, (await child.stdout.readline()).decode().strip()


async def run_strategy(
    strategy: str, *, jobs: int, scale: float, arrivals: float, history: int, seed: int
) -> dict[str, Any]:
    world = World(scale=scale, seed=seed)
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        folder = Path(tmp)
        db = folder / "bot.db"
        if strategy in ("adaptive", "callbacks"):
            await seed_history(db, World(scale=scale, seed=seed + 7), history)
        child, base_url = await start_sandbox("--world", str(scale), "--seed", str(seed))
        port = free_port()
        settings = Settings(
            keevx_api_key="bench-key",
            keevx_base_url=base_url,
            keevx_max_rps=0,  # unthrottled: the schedules are compared, not the limiter
            database_url=f"sqlite:///{db}",
            poll_interval=world.real(POLL_INTERVAL),
            poll_timeout=world.real(POLL_TIMEOUT),
            poll_concurrency=32,
            poll_strategy="fixed" if strategy == "fixed" else "adaptive",
            max_active_per_user=0,
            daily_videos_per_user=0,
            port=port if strategy == "callbacks" else None,
            public_url=f"http://127.0.0.1:{port}" if strategy == "callbacks" else "",
        )
        adapter = BenchAdapter(time.monotonic, expect=jobs)  # the clock the sandbox's due uses
        kinds = world.mix(jobs)
        times = sorted(world.real(world.rng.uniform(0, arrivals)) for _ in range(jobs))
        try:
            async with Core(settings, stop_grace=1.0) as core:
                await core.attach(adapter)
                started, cpu0 = loop.time(), cpu_seconds()
                for n, (at, kind) in enumerate(zip(times, kinds, strict=True)):
                    if (wait := started + at - loop.time()) > 0:
                        await asyncio.sleep(wait)
                    await core.service.submit(
                        target=target(n),
                        request=kind.request(),
                        images=[photo(folder / "in", n)],
                    )
                limit = world.real(arrivals + POLL_TIMEOUT + 120)
                await wait_until(lambda: adapter.done, limit, 0.05)
                wall, cpu = loop.time() - started, cpu_seconds() - cpu0
        finally:
            out, _ = await child.communicate(b"")
    report = json.loads(out.decode().strip().splitlines()[-1])
    due: dict[str, float] = report["due"]
    delays = [
        world.world(adapter.delivered[tid] - t)
        for tid, t in due.items()
        if tid in adapter.delivered
    ]
    per_job = list(report["queries"].values())
    outcome = Counter(adapter.finished.values())
    return {
        "strategy": strategy,
        "jobs": jobs,
        "delivered": len(adapter.jobs),
        "outcomes": dict(outcome),
        "queries_total": sum(per_job),
        "queries_per_job": round(statistics.fmean(per_job), 3) if per_job else None,
        "queries_per_job_p95": percentile(per_job, 95),
        "delay_p50_s": round(percentile(delays, 50), 2),
        "delay_p95_s": round(percentile(delays, 95), 2),
        "delay_max_s": round(max(delays), 2) if delays else None,
        "peak_queries_per_world_s": round(report["busiest_second_queries"] / scale, 2),
        "wall_s": round(wall, 1),
        "bot_cpu_s": round(cpu, 1),
        "bot_cpu_share": round(cpu / wall, 2) if wall else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for strategy in args.strategies.split(","):
        print(f"poll: {strategy} with {args.jobs} jobs at scale 1/{args.scale:g} …", flush=True)
        t = time.perf_counter()
        result = await run_strategy(
            strategy,
            jobs=args.jobs,
            scale=args.scale,
            arrivals=args.arrivals,
            history=args.history,
            seed=args.seed,
        )
        print(json.dumps(result), f"({time.perf_counter() - t:.0f} s)", flush=True)
        results.append(result)
    by = {r["strategy"]: r for r in results}
    goals: dict[str, Any] = {}
    if "callbacks" in by:
        cb = by["callbacks"]
        goals["callbacks_queries_per_job_le_1.1"] = cb["queries_per_job"] <= 1.1
        goals["callbacks_p50_delay_lt_1s"] = cb["delay_p50_s"] < 1.0
    if "fixed" in by and "adaptive" in by:
        base, ad = by["fixed"], by["adaptive"]
        saving = 1 - ad["queries_per_job"] / base["queries_per_job"]
        goals["adaptive_query_saving"] = round(saving, 3)
        goals["adaptive_saving_ge_40pct"] = saving >= 0.40
        goals["adaptive_p95_not_worse"] = ad["delay_p95_s"] <= base["delay_p95_s"]
    return {
        "settings": {
            "jobs": args.jobs,
            "scale": args.scale,
            "arrivals_world_s": args.arrivals,
            "history_per_kind": args.history,
            "poll_interval_world_s": POLL_INTERVAL,
            "poll_timeout_world_s": POLL_TIMEOUT,
            "kinds": [k.__dict__ for k in KINDS],
        },
        "results": results,
        "goals": goals,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.poll", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--scale", type=float, default=20.0, help="world seconds per real second")
    p.add_argument("--arrivals", type=float, default=1200.0, help="world seconds of arrivals")
    p.add_argument("--history", type=int, default=256, help="learned tasks per kind")
    p.add_argument("--strategies", default="fixed,adaptive,callbacks")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="poll")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    report = asyncio.run(main_async(args))
    path = write_result(args.out, report)
    print(json.dumps(report["goals"]), f"-> {path}")
    print(json.dumps(machine()))
    return report


if __name__ == "__main__":
    main()
