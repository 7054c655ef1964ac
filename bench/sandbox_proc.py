"""The Keevx sandbox in a process of its own, so a benchmark's process holds only the bot.

``python -m bench.sandbox_proc [--delay S | --world SCALE] [--seed N] [--video-mb MB]``
prints the base URL on its first line and serves until its standard input is
closed; it then prints one JSON line: each task's due time (``time.monotonic``,
which every process on the machine shares), its creation time by prompt, the
status queries per task and the busiest second's query count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from bench.common import World
from bot.keevx.sandbox import Sandbox, SandboxConfig


async def serve(args: argparse.Namespace) -> None:
    world = World(scale=args.world, seed=args.seed) if args.world else None
    config = SandboxConfig(
        delay=args.delay,
        delay_for=world.sandbox_delay() if world else None,
        render_height=32,
        fps=4,
        reuse_video=True,
        min_video_bytes=int(args.video_mb * 1024 * 1024),
        seed=args.seed,
    )
    busiest = 0

    async def sample(sandbox: Sandbox) -> None:
        nonlocal busiest
        last = 0
        while True:
            await asyncio.sleep(1.0)
            calls = sandbox.calls
            busiest = max(busiest, sum(1 for c in calls[last:] if c.method == "GET"))
            last = len(calls)

    async with Sandbox(config) as sandbox:
        print(sandbox.base_url, flush=True)
        sampler = asyncio.create_task(sample(sandbox))
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        sampler.cancel()
        queries = Counter(
            c.path.rsplit("/", 1)[-1]
            for c in sandbox.calls
            if c.method == "GET" and c.path.startswith("/v1/image_to_video/")
        )
        report = {
            "due": {tid: task.due for tid, task in sandbox.tasks.items()},
            "created": {task.spec.prompt: task.created for task in sandbox.tasks.values()},
            "queries": {tid: queries[tid] for tid in sandbox.tasks},
            "busiest_second_queries": busiest,
        }
        print(json.dumps(report), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sandbox_proc")
    p.add_argument("--delay", type=float, default=3600.0, help="render time of every task (s)")
    p.add_argument("--world", type=float, default=0.0, help="scale: render times per kind")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--video-mb", type=float, default=0.0)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
