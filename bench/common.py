"""What the benchmarks share: the time-scaled world, a timestamping adapter, the numbers.

Time scaling: the world's seconds (Keevx render times, ``POLL_INTERVAL``,
``POLL_TIMEOUT``) are divided by ``scale`` for the run, and every measured
duration is multiplied back, so reports are in world ("unscaled") seconds.
The bot's own overhead is multiplied too, which makes reported delays an
upper bound: 20 ms of real processing shows as 0.4 s at scale 20.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import random
import resource
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app.runtime import Core
from bot.keevx.sandbox.checks import CreateSpec
from bot.model.job import Job, Target, Video
from bot.model.request import Model, Options, VideoRequest, build_request

__all__ = [
    "KINDS",
    "BenchAdapter",
    "World",
    "count_creates",
    "free_port",
    "machine",
    "percentile",
    "photo",
    "rss_mb",
    "wait_until",
    "write_result",
]


@dataclass(frozen=True)
class Kind:
    """One kind of request and how long Keevx takes for it (world seconds, median)."""

    model: str
    resolution: str
    duration: int
    median: float

    def request(self) -> VideoRequest:
        options = Options(
            model=Model(self.model),
            resolution=self.resolution,
            duration=self.duration,
            aspect_ratio="16:9",
        )
        return build_request("bench waves at sunset", options, 1)


# Keevx publishes no render times, only "up to 20 minutes": an assumed, plausible mix
# where bigger and longer videos take longer, spanning 1–15 minutes overall.
KINDS = (
    Kind("V", "720p", 4, 100.0),
    Kind("KL", "720p", 5, 150.0),
    Kind("V", "1080p", 6, 200.0),
    Kind("KL", "1080p", 10, 360.0),
    Kind("V", "4k", 8, 480.0),
)
SIGMA = 0.3  # log-normal spread around each kind's median
SHORTEST, LONGEST = 60.0, 900.0


@dataclass
class World:
    """The world's clock divided by ``scale``; draws render times per kind."""

    scale: float = 20.0
    seed: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def real(self, world_seconds: float) -> float:
        return world_seconds / self.scale

    def world(self, real_seconds: float) -> float:
        return real_seconds * self.scale

    def draw(self, kind: Kind, rng: random.Random | None = None) -> float:
        """A render time in world seconds for ``kind``."""
        r = rng or self.rng
        return min(LONGEST, max(SHORTEST, kind.median * math.exp(r.gauss(0.0, SIGMA))))

    def kind_of_spec(self, spec: CreateSpec) -> Kind:
        for kind in KINDS:
            if (kind.model, kind.resolution, kind.duration) == (
                spec.model,
                spec.resolution,
                spec.duration,
            ):
                return kind
        raise ValueError(f"no kind for {spec.model}/{spec.resolution}/{spec.duration}")

    def sandbox_delay(self) -> Callable[[CreateSpec], float]:
        """``SandboxConfig.delay_for``: a scaled render time for the task's kind."""
        rng = random.Random(self.seed + 1000)
        return lambda spec: self.real(self.draw(self.kind_of_spec(spec), rng))

    def mix(self, n: int) -> list[Kind]:
        """``n`` kinds, drawn evenly from :data:`KINDS`."""
        return [self.rng.choice(KINDS) for _ in range(n)]


class QuietAdapter:
    """The parts of a ChatAdapter a stand-in platform does nothing with (the benchmarks'
    and the tests' adapters build on it): no connection to open or close, no upload limit."""

    async def start(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def upload_limit(self, target: Target) -> int:
        return 2**40


class BenchAdapter(QuietAdapter):
    """A ChatAdapter that only timestamps deliveries (loop clock) per Keevx task id."""

    platform = "bench"

    def __init__(self, clock: Callable[[], float], *, expect: int = 0) -> None:
        self._clock = clock
        self.delivered: dict[str, float] = {}
        self.jobs: dict[int, float] = {}
        self.expect = expect
        self.sizes: list[int] = []
        self.finished: dict[int, str] = {}

    async def show_status(self, job: Job) -> str | None:
        if job.status.terminal:
            self.finished[job.id] = job.status.value
        return f"status-{job.id}"

    async def deliver(self, job: Job, video: Video) -> str:
        at = self._clock()
        self.jobs[job.id] = at
        self.delivered[job.tasks[video.number - 1].task_id] = at
        self.sizes.append(video.size or 0)
        return f"video-{job.id}-{video.number - 1}"

    @property
    def done(self) -> bool:
        return len(self.finished) >= self.expect


def target(n: int) -> Target:
    return Target(platform="bench", chat_id=f"chat-{n}", user_id=f"user-{n}", user_name="b")


def photo(folder: Path, n: int) -> Path:
    """A fresh copy of a small JPEG in ``folder`` (the service takes files over)."""
    template = folder / "template.jpg"
    if not template.exists():
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (96, 64), (200, 120, 40)).save(template, format="JPEG")
    out = folder / f"photo-{n}.jpg"
    shutil.copyfile(template, out)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0–100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


async def wait_until(done: Callable[[], bool], limit: float, step: float = 0.02) -> bool:
    """Poll ``done`` every ``step`` seconds for up to ``limit``; return its last answer.

    Polling on purpose: the conditions are counts kept by code under measurement,
    which must not be changed to signal the benchmark.
    """
    deadline = time.monotonic() + limit
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(step)
    return done()


def count_creates(core: Core) -> Callable[[], int]:
    """Count the core's successful Keevx create calls; returns the counter to read."""
    created = 0
    original = core.keevx.create

    async def create(body: dict[str, Any]) -> list[str]:
        nonlocal created
        ids = await original(body)
        created += 1
        return ids

    core.keevx.create = create  # type: ignore[method-assign]
    return lambda: created


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB, from /proc/self/status."""
    values: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name[:-1]] = int(amount) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_result(name: str, result: dict[str, Any], folder: Path | None = None) -> Path:
    """Save ``result`` as ``<name>.json`` under ``folder``, ``$BENCH_RESULTS`` or bench/results."""
    default = os.environ.get("BENCH_RESULTS") or Path(__file__).with_name("results")
    out = Path(folder or default) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "at": time.time(), **result}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out
