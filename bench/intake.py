"""Benchmark 3: intake, from a photo request to a created Keevx task.

``python -m bench.intake [--jobs 2000] [--concurrency 16] [--rate 20]``.
Drives :meth:`bot.jobs.service.JobService.submit` directly, as an adapter does
once it has downloaded the photo (the Telegram-adapter version, through a
fake Bot API on loopback, is to come). Each request is the bundled 1280×853
sample photo under a different user, with the default fair-use limits on and
the default ``POLL_CONCURRENCY``; the sandbox runs in a child process.

Two phases, each on a fresh database, in real seconds (nothing is scaled):

* throughput: ``--concurrency`` requesters submit back to back (closed loop);
  requests per second from the first submit to the last task created;
* latency: requests arrive at random at ``--rate`` a second (open loop,
  below capacity); the bot's added latency is ``submit()`` (checks, image
  spooled, job committed: when the requester hears back) and submit → Keevx
  has the task (upload and create on loopback included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BenchAdapter,
    count_creates,
    cpu_seconds,
    percentile,
    target,
    wait_until,
    write_result,
)
from bench.poll import start_sandbox
from bot.app.runtime import Core
from bot.keevx.sandbox import SAMPLE_IMAGE
from bot.model.request import Options, build_request
from bot.settings import Settings

MS = 1000.0


async def phase(jobs: int, *, concurrency: int = 0, rate: float = 0.0) -> dict[str, Any]:
    """One run: closed loop with ``concurrency`` requesters, or open loop at ``rate``."""
    loop = asyncio.get_running_loop()
    started: dict[str, float] = {}  # prompt -> submit start (time.monotonic)
    answered: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        child, base_url = await start_sandbox("--delay", "36000")
        settings = Settings(
            keevx_api_key="bench-key",
            keevx_base_url=base_url,
            keevx_max_rps=0,
            database_url=f"sqlite:///{folder / 'bot.db'}",
        )

        async def one(n: int) -> None:
            image = folder / "in" / f"{n}.jpg"
            shutil.copyfile(SAMPLE_IMAGE, image)
            prompt = f"bench request {n}"
            request = build_request(prompt, Options(), 1)
            started[prompt] = t = time.monotonic()
            await core.service.submit(target=target(n), request=request, images=[image])
            answered.append(time.monotonic() - t)

        try:
            async with Core(settings, stop_grace=1.0) as core:
                await core.attach(BenchAdapter(loop.time))
                created = count_creates(core)
                cpu0, t0 = cpu_seconds(), time.monotonic()
                if concurrency:
                    queue = list(range(jobs))[::-1]

                    async def requester() -> None:
                        while queue:
                            await one(queue.pop())

                    await asyncio.gather(*(requester() for _ in range(concurrency)))
                else:
                    rng, pending = random.Random(3), []
                    at = t0
                    for n in range(jobs):
                        at += rng.expovariate(rate)
                        await asyncio.sleep(max(0.0, at - time.monotonic()))
                        pending.append(asyncio.create_task(one(n)))
                    await asyncio.gather(*pending)
                await wait_until(lambda: created() >= jobs, 600, 0.005)
                wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
        finally:
            out, _ = await child.communicate(b"")
    report = json.loads(out.decode().strip().splitlines()[-1])
    to_task = [at - started[prompt] for prompt, at in report["created"].items()]
    last = max(report["created"].values())
    return {
        "jobs": jobs,
        "tasks_created": len(to_task),
        "throughput_rps": round(len(to_task) / (last - t0), 1),
        "submit_latency_p50_ms": round(MS * percentile(answered, 50), 1),
        "submit_latency_p99_ms": round(MS * percentile(answered, 99), 1),
        "to_task_p50_ms": round(MS * percentile(to_task, 50), 1),
        "to_task_p99_ms": round(MS * percentile(to_task, 99), 1),
        "bot_cpu_share": round(cpu / wall, 2),
    }


async def run(jobs: int, concurrency: int, rate: float) -> dict[str, Any]:
    closed = await phase(jobs, concurrency=concurrency)
    print(json.dumps({"closed_loop": closed}), flush=True)
    opened = await phase(max(1, min(jobs, int(rate * 30))), rate=rate)
    print(json.dumps({"open_loop": opened}), flush=True)
    return {
        "settings": {"jobs": jobs, "concurrency": concurrency, "rate_rps": rate},
        "throughput": closed,
        "latency": opened,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=float, default=20.0, help="open-loop requests per second")
    p.add_argument("--out", default="intake")
    args = p.parse_args(argv)
    print(f"intake: {args.jobs} requests, {args.concurrency} at a time …", flush=True)
    t = time.perf_counter()
    result = asyncio.run(run(args.jobs, args.concurrency, args.rate))
    path = write_result(args.out, result)
    print(json.dumps(result), f"({time.perf_counter() - t:.0f} s) -> {path}")
    return result


if __name__ == "__main__":
    main()
