"""Benchmark 4: peak memory while delivering a small and a huge video.

``python -m bench.delivery [--sizes 10,500]`` (MB). This process runs the
sandbox, padding every MP4 to the size (``SandboxConfig.min_video_bytes``);
for each size a fresh child process runs a Core that turns one photo into a
video and delivers it to an adapter with no upload limit, so the whole file
is downloaded (streamed to a temporary file). The child reports its peak
resident memory (VmHWM in /proc/self/status) before the job and after the
delivery. Goal: the peaks for the sizes within 30 MB of each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchAdapter, photo, rss_mb, target, wait_until, write_result
from bot.app.runtime import Core
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.request import Options, build_request
from bot.settings import Settings

MB = 1024 * 1024


async def child(base_url: str) -> dict[str, Any]:
    """One delivery in this (fresh) process; returns memory and the delivered size."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        settings = Settings(
            keevx_api_key="bench-key",
            keevx_base_url=base_url,
            keevx_max_rps=0,
            database_url=f"sqlite:///{Path(tmp) / 'bot.db'}",
            poll_interval=0.1,
        )
        adapter = BenchAdapter(loop.time, expect=1)
        async with Core(settings, stop_grace=1.0) as core:
            await core.attach(adapter)
            before = rss_mb()[1]
            t = loop.time()
            await core.service.submit(
                target=target(0),
                request=build_request("bench", Options(), 1),
                images=[photo(Path(tmp) / "in", 0)],
            )
            await wait_until(lambda: adapter.done, 300)
            took = loop.time() - t
    return {
        "delivered_bytes": sum(adapter.sizes),
        "hwm_before_mb": round(before, 1),
        "hwm_after_mb": round(rss_mb()[1], 1),
        "seconds": round(took, 1),
    }


async def run(sizes: list[int]) -> dict[str, Any]:
    runs = []
    for size in sizes:
        config = SandboxConfig(
            delay=0.3, render_height=32, fps=4, reuse_video=True, min_video_bytes=size * MB
        )
        async with Sandbox(config) as sandbox:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.delivery",
                "--child",
                sandbox.base_url,
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
        result = {"size_mb": size, **json.loads(out.decode().strip().splitlines()[-1])}
        print(json.dumps(result), flush=True)
        runs.append(result)
    peaks = [r["hwm_after_mb"] for r in runs]
    spread = max(peaks) - min(peaks)
    return {
        "runs": runs,
        "peak_spread_mb": round(spread, 1),
        "goals": {"same_within_30mb": spread <= 30},
    }


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    p = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10,500", help="video sizes in MB, comma-separated")
    p.add_argument("--child", metavar="BASE_URL", help=argparse.SUPPRESS)
    p.add_argument("--out", default="delivery")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.child))))
        return None
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"delivery: videos of {sizes} MB, one child process each …", flush=True)
    t = time.perf_counter()
    result = asyncio.run(run(sizes))
    path = write_result(args.out, result)
    print(json.dumps(result), f"({time.perf_counter() - t:.0f} s) -> {path}")
    return result


if __name__ == "__main__":
    main()
