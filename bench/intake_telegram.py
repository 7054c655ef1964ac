"""Benchmark 3, through Telegram: photo updates → the real adapter → created Keevx tasks.

``python -m bench.intake_telegram [--jobs 300] [--paced-jobs 120] [--rate 5]``.
The real :class:`adapters.telegram.TelegramAdapter` (PTB ``Application``, the
adapter's own confirming ``getUpdates`` loop, default settings) polls a fake
Bot API (``tests/fakes/telegram.py``) in a child process, and the real Core
(temporary SQLite database) talks to the Keevx sandbox in another child
process, so this process holds only the bot. Everything is on 127.0.0.1.

Each request is a private-chat photo message (the bundled 1280×853 sample JPEG,
downloaded through ``getFile``) whose caption is the prompt, each from its own
user and chat. Two phases, each on a fresh database and fresh fake:

* burst: ``--jobs`` updates are queued at once; requests per second from the
  first update available in ``getUpdates`` to the last Keevx task created;
* burst without the flood limit: the same, with the adapter's ``AIORateLimiter``
  built without limits, to show what the Telegram layer costs besides it (the
  limiter holds chat-bound calls to 30 a second; each job makes one before its
  task is created, the status message, awaited, and one after, the edit to
  "waiting in Keevx's queue", which the pipeline does not wait for and which is
  held while first replies are being sent; in the paced run the status ticker
  also refreshes the elapsed time, about every 12 s);
* paced: ``--paced-jobs`` updates arrive at random at ``--rate`` a second.

The bot's added latency, per request, from the update being available:
(a) → the status message's ``sendMessage`` reaching the fake (the user's
first feedback), (b) → the sandbox creating the Keevx task. The fake also
timestamps the first ``getUpdates`` answer holding the update, ``getFile``,
the download and the confirmation (the offset moving past it), which splits
the time. Times are ``time.monotonic``, shared by all processes on the machine.

Baseline in the same run: :mod:`bench.intake` at the same sizes (burst: 16
requesters back to back, as PTB runs 16 updates at a time; paced: the same
rate), which calls ``JobService.submit`` with the photo already on disk. The
difference is what ``getUpdates``, ``getFile`` + download and PTB add.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from aiohttp import web

import adapters.telegram.adapter as adapter_module
from adapters.telegram import TelegramAdapter
from adapters.telegram.metered import MeteredRateLimiter
from bench import intake
from bench.common import count_creates, cpu_seconds, percentile, wait_until, write_result
from bench.poll import start_sandbox
from bot.app.runtime import Core
from bot.keevx.sandbox import SAMPLE_IMAGE
from bot.settings import Settings
from tests.fakes.telegram import FakeTelegram, JSONDict, Upload

TOKEN = "424242:bench-telegram-token"
FIRST_CHAT = 500_000  # request n comes from user (and private chat) FIRST_CHAT + n
MS = 1000.0


def prompt(n: int) -> str:
    return f"bench telegram request {n}"


# -- the fake Bot API, in a child process ---------------------------------------------------


class TimedTelegram(FakeTelegram):
    """FakeTelegram that timestamps (``time.monotonic``) what the benchmark measures.

    Per request ``n``: when its update was queued, first served by getUpdates,
    confirmed (the offset passed it), its photo asked for (getFile) and
    downloaded, and its chat's first sendMessage (the status message).
    """

    def __init__(self, token: str) -> None:
        super().__init__(token, max_poll_wait=10.0)
        self.request_of_update: dict[int, int] = {}
        self.request_of_file: dict[str, int] = {}
        self.request_of_path: dict[str, int] = {}
        self.times: dict[str, dict[int, float]] = {
            k: {} for k in ("available", "fetched", "confirmed", "get_file", "downloaded", "status")
        }
        self.counts: dict[str, int] = {"getUpdates": 0, "updates_served": 0}
        self._unconfirmed = 1  # lowest update id not yet confirmed

    def prepare(self, n: int) -> JSONDict:
        """Request ``n``'s photo message, built but not queued."""
        photo = self.add_file(SAMPLE_IMAGE.read_bytes())
        self.request_of_file[photo.file_id] = n
        self.request_of_path[photo.path] = n
        chat = FIRST_CHAT + n
        user = self.user(chat, first_name=f"U{n}", username=f"bench{n}")
        return self.message(chat, user=user, caption=prompt(n), photo=photo, queue=False)

    def arrive(self, n: int, message: JSONDict) -> None:
        update = self.push({"message": message})
        self.request_of_update[update["update_id"]] = n
        self.times["available"][n] = time.monotonic()

    def _stamp(self, what: str, n: int | None) -> None:
        if n is not None:
            self.times[what].setdefault(n, time.monotonic())

    async def _m_getUpdates(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        now = time.monotonic()
        offset = int(p.get("offset") or 0)
        while self._unconfirmed < offset:
            if (n := self.request_of_update.get(self._unconfirmed)) is not None:
                self.times["confirmed"].setdefault(n, now)
            self._unconfirmed += 1
        result = await super()._m_getUpdates(p, f)
        self.counts["getUpdates"] += 1
        self.counts["updates_served"] += len(result)
        for update in result:
            self._stamp("fetched", self.request_of_update.get(update["update_id"]))
        return result

    async def _m_getFile(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        self._stamp("get_file", self.request_of_file.get(str(p.get("file_id"))))
        return await super()._m_getFile(p, f)

    async def _handle_download(self, request: web.Request) -> web.Response:
        response = await super()._handle_download(request)
        self._stamp("downloaded", self.request_of_path.get(request.match_info["path"]))
        return response

    async def _m_sendMessage(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        chat = p.get("chat_id")
        self._stamp("status", chat - FIRST_CHAT if isinstance(chat, int) else None)
        return await super()._m_sendMessage(p, f)

    def report(self) -> dict[str, Any]:
        methods: dict[str, int] = {}
        for call in self.calls:
            methods[call.method] = methods.get(call.method, 0) + 1
        return {"times": self.times, "counts": {**self.counts, **methods}}


async def serve_fake(jobs: int, rate: float, seed: int) -> None:
    """Print the URL; on a line on stdin queue the updates; on EOF print the report."""
    loop = asyncio.get_running_loop()
    fake = TimedTelegram(TOKEN)
    async with fake:
        messages = [fake.prepare(n) for n in range(jobs)]
        print(fake.url, flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        if rate <= 0:
            for n, message in enumerate(messages):
                fake.arrive(n, message)
        else:
            rng, at = random.Random(seed), time.monotonic()
            for n, message in enumerate(messages):
                at += rng.expovariate(rate)
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                fake.arrive(n, message)
        await loop.run_in_executor(None, sys.stdin.read)
        print(json.dumps(fake.report()), flush=True)


async def start_fake(jobs: int, rate: float, seed: int) -> tuple[asyncio.subprocess.Process, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.intake_telegram",
        "--serve-fake",
        "--jobs",
        str(jobs),
        "--rate",
        str(rate),
        "--seed",
        str(seed),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**26,
    )
    assert child.stdout is not None
    return child, (await child.stdout.readline()).decode().strip()


# -- the bot ---------------------------------------------------------------------------------


def _ms(values: Sequence[float], p: float) -> float:
    return round(MS * percentile(values, p), 1)


def _spans(start: dict[int, float], end: dict[int, float]) -> list[float]:
    return [end[n] - t for n, t in start.items() if n in end]


def _adapter(settings: Settings, core: Core, *, flood_limit: bool) -> TelegramAdapter:
    """The adapter as the bot builds it; without ``flood_limit`` its rate limiter
    (30 chat-bound calls a second, Telegram's limit) is built with no limits."""
    if flood_limit:
        return TelegramAdapter(settings, core.service, shared=core.shared)
    unlimited = functools.partial(MeteredRateLimiter, overall_max_rate=0, group_max_rate=0)
    with mock.patch.object(adapter_module, "MeteredRateLimiter", unlimited):
        return TelegramAdapter(settings, core.service, shared=core.shared)


async def phase(
    jobs: int, *, rate: float = 0.0, seed: int = 3, flood_limit: bool = True
) -> dict[str, Any]:
    """One run: ``jobs`` photo updates at once (``rate`` 0) or at random at ``rate``/s."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-tg-") as tmp:
        sandbox, base_url = await start_sandbox("--delay", "36000")
        fake, fake_url = await start_fake(jobs, rate, seed)
        settings = Settings(
            keevx_api_key="bench-key",
            keevx_base_url=base_url,
            keevx_max_rps=0,
            database_url=f"sqlite:///{Path(tmp) / 'bot.db'}",
            telegram_bot_token=TOKEN,
            telegram_api_url=fake_url,
            max_active_per_user=0,
            daily_videos_per_user=0,
        )
        try:
            async with Core(settings, stop_grace=1.0) as core:
                adapter = _adapter(settings, core, flood_limit=flood_limit)
                await adapter.start()
                await core.attach(adapter)
                created = count_creates(core)
                try:
                    assert fake.stdin is not None
                    cpu0, t0 = cpu_seconds(), time.monotonic()
                    fake.stdin.write(b"go\n")
                    await fake.stdin.drain()
                    await wait_until(lambda: created() >= jobs, 600, 0.005)
                    wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
                finally:
                    await core.poller.stop(5)
                    await adapter.stop()
        finally:
            fake_out, _ = await fake.communicate(b"")
            sandbox_out, _ = await sandbox.communicate(b"")
    tg = json.loads(fake_out.decode().strip().splitlines()[-1])
    keevx = json.loads(sandbox_out.decode().strip().splitlines()[-1])
    times = {what: {int(n): t for n, t in by.items()} for what, by in tg["times"].items()}
    available = times["available"]
    created_at = {
        n: keevx["created"][prompt(n)] for n in available if prompt(n) in keevx["created"]
    }
    status, to_task = _spans(available, times["status"]), _spans(available, created_at)
    counts = tg["counts"]
    span = max(created_at.values(), default=0.0) - min(available.values(), default=0.0)
    split = {
        "available_to_fetched": _spans(available, times["fetched"]),
        "fetched_to_get_file": _spans(times["fetched"], times["get_file"]),
        "get_file_to_downloaded": _spans(times["get_file"], times["downloaded"]),
        "downloaded_to_status": _spans(times["downloaded"], times["status"]),
        "status_to_task": _spans(times["status"], created_at),
        "available_to_confirmed": _spans(available, times["confirmed"]),
    }
    return {
        "jobs": jobs,
        "arrivals": f"{rate:g}/s at random" if rate > 0 else "all at once",
        "flood_limit": flood_limit,
        "tasks_created": len(to_task),
        "throughput_rps": round(len(to_task) / span, 1) if span > 0 else 0.0,
        "status_p50_ms": _ms(status, 50),
        "status_p99_ms": _ms(status, 99),
        "to_task_p50_ms": _ms(to_task, 50),
        "to_task_p99_ms": _ms(to_task, 99),
        "split_p50_p99_ms": {k: [_ms(v, 50), _ms(v, 99)] for k, v in split.items()},
        "get_updates_calls": counts["getUpdates"],
        "updates_served_per_update": round(counts["updates_served"] / max(1, jobs), 1),
        "telegram_calls": {k: v for k, v in counts.items() if k not in ("updates_served",)},
        "bot_cpu_share": round(cpu / wall, 2),
    }


async def run(jobs: int, paced_jobs: int, rate: float) -> dict[str, Any]:
    runs: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "burst": lambda: phase(jobs),
        "burst_no_flood_limit": lambda: phase(jobs, flood_limit=False),
        "paced": lambda: phase(paced_jobs, rate=rate),
        "baseline_burst": lambda: intake.phase(jobs, concurrency=16),
        "baseline_paced": lambda: intake.phase(paced_jobs, rate=rate),
    }
    results: dict[str, Any] = {}
    for name, start in runs.items():
        results[name] = await start()
        print(json.dumps({name: results[name]}), flush=True)
    return {"settings": {"jobs": jobs, "paced_jobs": paced_jobs, "rate_rps": rate}, **results}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m bench.intake_telegram", description=__doc__.split("\n")[0]
    )
    p.add_argument("--jobs", type=int, default=300, help="burst: updates queued at once")
    p.add_argument("--paced-jobs", type=int, default=120, help="paced: updates at --rate")
    p.add_argument("--rate", type=float, default=5.0, help="paced arrivals per second")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--out", default="intake-telegram")
    p.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_fake:
        asyncio.run(serve_fake(args.jobs, args.rate, args.seed))
        return {}
    print(
        f"intake through Telegram: {args.jobs} at once, {args.paced_jobs} at {args.rate:g}/s …",
        flush=True,
    )
    t = time.perf_counter()
    result = asyncio.run(run(args.jobs, args.paced_jobs, args.rate))
    path = write_result(args.out, result)
    print(json.dumps(result), f"({time.perf_counter() - t:.0f} s) -> {path}")
    return result


if __name__ == "__main__":
    main()
