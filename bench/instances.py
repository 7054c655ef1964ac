"""Benchmark 5: 1, 2 and 3 bot instances on one PostgreSQL database, and a SIGKILL takeover.

``python -m bench.instances [--jobs N] [--paced-jobs M] [--rate R]
[--counts sqlite,1,2,3] [--kills K] [--out NAME]``. Starts its own throwaway PostgreSQL server
(:mod:`bench.pg`), then for each instance count, on a fresh database and a fresh
Keevx sandbox (child process, :mod:`bench.sandbox_proc`; every task renders in
``--render`` world seconds), starts that many instances, each its own process
(``python -m bench.instances --worker``) running a real
:class:`bot.app.runtime.Core` on the shared database with a do-nothing adapter
that reports what it sees on stdout (claims, status queries, deliveries, final
statuses, on ``time.monotonic``, which every process on the machine shares).
This process submits the jobs through ``JobService.submit`` on the same
database, as an intake front would (the instances learn of them by
LISTEN/NOTIFY), in two phases, each waiting until every job has ended:

* paced: ``--paced-jobs`` jobs, evenly at ``--rate`` a (real) second, below
  capacity: status queries per job show whether instances poll a job twice;
* burst: ``--jobs`` jobs at once (16 submitters): capacity, in jobs per second
  from the first submit to the last delivery, and over the deliveries alone.

The baseline, ``sqlite`` in ``--counts``: the same, with one instance on a
SQLite file (this process writes its jobs to the same file, and signals the
instance after each, as the submitting code wakes the poller in a one-process
bot; SQLite has no LISTEN/NOTIFY).

Measured per phase: jobs per second, submit → delivered latency, Keevx status
queries per job (GET /image_to_video/{id} seen by the sandbox), deliveries per
instance, duplicate deliveries, CPU (instances, PostgreSQL, submitter, sandbox,
and the rest of the machine).

Takeover (``--kills`` rounds): two instances; the victim's platform never
finishes a send (like ``tests/crash_worker.py``'s SEND_SECONDS), so its poller
slots fill with jobs it holds leases on, mid-delivery. It is SIGKILLed at a
random point of the next lease renewal period (10 world seconds); the
jobs it held leases on (read from the database right after the kill) must be
taken over by the survivor once the leases run out. Measured per job: kill →
the survivor claims it, kill → the survivor delivers it, and the lease time
left at the kill (the survivor's reaction is the claim minus that).

Time is scaled like :mod:`bench.poll`: POLL_INTERVAL (30 s), the lease (30 s,
renewed every 10 s) and the render time run ``--scale`` times faster, and
latencies and takeover times are reported in world seconds (real × scale), so
the bot's own overhead counts ``--scale`` times there. Jobs per second are real
(CPU-bound capacity of this machine, not scaled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg

from bench.common import (
    KINDS,
    QuietAdapter,
    cpu_seconds,
    machine,
    percentile,
    photo,
    target,
    wait_until,
    write_result,
)
from bench.pg import PgServer, pg_server
from bench.poll import POLL_INTERVAL, POLL_TIMEOUT, start_sandbox
from bot.app.runtime import Core, utcnow
from bot.jobs.pipeline import Timing
from bot.jobs.service import JobService
from bot.model.job import Job, Video
from bot.settings import Settings
from storage import open_store

LEASE = 30.0  # world seconds: the pipeline's default lease
SUBMITTERS = 16
READY_LIMIT = 60.0  # real seconds for an instance to start
TICK = os.sysconf("SC_CLK_TCK")


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits)


# -- an instance (child process) -------------------------------------------------------------


def emit(*event: Any) -> None:
    print(json.dumps(event), flush=True)


class ReportingAdapter(QuietAdapter):
    """A ChatAdapter that does nothing but report; ``hold`` makes every send hang that long."""

    platform = "bench"

    def __init__(self, hold: float) -> None:
        self.hold = hold

    async def show_status(self, job: Job) -> str | None:
        if job.status.terminal:
            emit("end", time.monotonic(), job.id, job.status.value)
        return f"status-{job.id}"

    async def deliver(self, job: Job, video: Video) -> str:
        if self.hold:
            emit("hold", time.monotonic(), job.id)
            await asyncio.sleep(self.hold)
        emit("deliver", time.monotonic(), job.id)
        return f"video-{job.id}-{video.number - 1}"


def instrument(core: Core) -> None:
    """Report each claim (job ids) and each Keevx status query (task id)."""
    store, keevx = core.store, core.keevx
    real_claim, real_query = store.claim_due, keevx.query

    async def claim_due(now: datetime, limit: int, lease: timedelta, owner: str) -> list[Job]:
        jobs = await real_claim(now, limit, lease, owner)
        if jobs:
            emit("claim", time.monotonic(), [j.id for j in jobs])
        return jobs

    async def query(task_id: str) -> Any:
        emit("query", time.monotonic(), task_id)
        return await real_query(task_id)

    store.claim_due = claim_due  # type: ignore[method-assign]
    keevx.query = query  # type: ignore[method-assign]


def world_settings(db_url: str, keevx_url: str, scale: float, concurrency: int) -> Settings:
    return Settings(
        keevx_api_key="bench-key",
        keevx_base_url=keevx_url,
        keevx_max_rps=0,  # unthrottled: the instances are measured, not the limiter
        database_url=db_url,
        poll_interval=POLL_INTERVAL / scale,
        poll_timeout=POLL_TIMEOUT / scale,
        poll_concurrency=concurrency,
        poll_strategy="fixed",
        max_active_per_user=0,
        daily_videos_per_user=0,
    )


async def worker(args: argparse.Namespace) -> None:
    """One instance: work jobs until standard input is closed."""
    settings = world_settings(args.db, args.keevx, args.scale, args.concurrency)
    timing = Timing(
        poll_interval=timedelta(seconds=settings.poll_interval),
        poll_timeout=timedelta(seconds=settings.poll_timeout),
        lease=timedelta(seconds=LEASE / args.scale),
    )
    async with Core(settings, stop_grace=1.0, timing=timing) as core:
        instrument(core)
        await core.attach(ReportingAdapter(args.hold))
        # SQLite has no LISTEN/NOTIFY: the benchmark signals a job it added, as the
        # submitting code would wake the poller in a one-process bot.
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, core.poller.wake)
        emit("ready", time.monotonic())
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- this process: the instances as seen from outside ----------------------------------------


@dataclass
class Instance:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]
    ready: float | None = None
    claims: list[tuple[float, list[int]]] = field(default_factory=list)
    queries: int = 0
    held: dict[int, float] = field(default_factory=dict)
    delivered: dict[int, float] = field(default_factory=dict)
    deliveries: Counter[int] = field(default_factory=Counter)
    ended: dict[int, tuple[float, str]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    def on(self, event: list[Any]) -> None:
        kind, at = event[0], float(event[1])
        if kind == "ready":
            self.ready = at
        elif kind == "claim":
            self.claims.append((at, [int(i) for i in event[2]]))
        elif kind == "query":
            self.queries += 1
        elif kind == "hold":
            self.held.setdefault(int(event[2]), at)
        elif kind == "deliver":
            self.deliveries[int(event[2])] += 1
            self.delivered.setdefault(int(event[2]), at)
        elif kind == "end":
            self.ended.setdefault(int(event[2]), (at, str(event[3])))

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, list) and len(event) >= 2:
                self.on(event)

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def first_claim_after(self, job_id: int, since: float) -> float | None:
        return next((t for t, ids in self.claims if t >= since and job_id in ids), None)


async def start_instance(
    name: str, *, db_url: str, keevx_url: str, args: argparse.Namespace, folder: Path, hold: float
) -> Instance:
    log_path = folder / f"{name}.log"
    log_file = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the bot
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.instances", "--worker", name),
        *("--db", db_url, "--keevx", keevx_url, "--scale", str(args.scale)),
        *("--concurrency", str(args.concurrency), "--hold", str(hold)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log_file,
        limit=2**26,
    )
    instance = Instance(name, process, log_path, log_file)
    instance.reader = asyncio.create_task(instance.read())
    return instance


async def wait_ready(instances: Sequence[Instance]) -> None:
    def ready() -> bool:
        return all(i.ready is not None or i.process.returncode is not None for i in instances)

    await wait_until(ready, READY_LIMIT, 0.05)
    for i in instances:
        if i.ready is None:
            raise RuntimeError(f"instance {i.name} did not start:\n{i.log()}")


async def stop_instance(instance: Instance, grace: float = 20.0) -> None:
    """Close its standard input (a clean stop); kill it if it is not gone within ``grace``."""
    process = instance.process
    if process.returncode is None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()
    if instance.reader is not None:
        await asyncio.gather(instance.reader, return_exceptions=True)
    instance.log_file.close()


def cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [float(v) / TICK for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (float(fields[11]) + float(fields[12])) / TICK


async def submit_all(
    service: JobService, folder: Path, jobs: int, first: int = 0, rate: float = 0.0
) -> dict[int, float]:
    """Submit ``jobs`` jobs, evenly at ``rate`` a second or all at once (SUBMITTERS at a
    time); returns each job's submit time by id."""
    request = KINDS[0].request()
    photos = [photo(folder, first + n) for n in range(jobs)]  # made before the clock runs
    gate = asyncio.Semaphore(SUBMITTERS)
    submitted: dict[int, float] = {}
    start = time.monotonic()

    async def one(n: int) -> None:
        if rate > 0:
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        async with gate:
            at = time.monotonic()
            job = await service.submit(
                target=target(first + n), request=request, images=[photos[n]]
            )
            submitted[job.id] = at

    await asyncio.gather(*(one(n) for n in range(jobs)))
    return submitted


@dataclass
class World:
    """A fresh database, its store for submitting, a fresh sandbox, and the instances."""

    server: PgServer
    name: str
    args: argparse.Namespace
    folder: Path
    sqlite: bool = False
    db_url: str = ""
    keevx_url: str = ""
    instances: list[Instance] = field(default_factory=list)
    sandbox_report: dict[str, Any] = field(default_factory=dict)

    async def __aenter__(self) -> World:
        if self.sqlite:
            self.db_url = f"sqlite:///{self.folder / 'bot.db'}"
        else:
            self.db_url = self.server.create_database(self.name)
        self.store = await open_store(self.db_url)  # migrates before any instance starts
        self.service = JobService(self.store, now=utcnow, wake=self.wake)
        render = self.args.render / self.args.scale
        self.sandbox, self.keevx_url = await start_sandbox(
            "--delay", str(render), "--seed", str(self.args.seed)
        )
        return self

    def wake(self) -> None:
        """SQLite only: tell the instance a job was added (PostgreSQL notifies by itself)."""
        if self.sqlite:
            for i in self.instances:
                if i.process.returncode is None:
                    i.process.send_signal(signal.SIGUSR1)

    async def start(self, name: str, hold: float = 0.0) -> Instance:
        instance = await start_instance(
            name,
            db_url=self.db_url,
            keevx_url=self.keevx_url,
            args=self.args,
            folder=self.folder,
            hold=hold,
        )
        self.instances.append(instance)
        return instance

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(stop_instance(i) for i in self.instances))
        out, _ = await self.sandbox.communicate(b"")
        lines = out.decode().strip().splitlines()
        self.sandbox_report = json.loads(lines[-1]) if lines else {}
        await self.store.close()

    def ended(self) -> dict[int, tuple[float, str]]:
        merged: dict[int, tuple[float, str]] = {}
        for i in self.instances:
            for job_id, value in i.ended.items():
                if job_id not in merged or value[0] < merged[job_id][0]:
                    merged[job_id] = value
        return merged


@dataclass
class Phase:
    """What one phase submitted, and the counters read around it."""

    name: str
    started: float
    submitted: dict[int, float]
    submit_s: float
    busy: float
    share: float | None
    cpu: dict[str, float]


async def run_phase(
    world: World, args: argparse.Namespace, name: str, jobs: int, first: int, rate: float
) -> Phase:
    """Submit ``jobs`` jobs (at ``rate`` a second, or all at once) and wait until all ended."""
    pids = {i.name: i.process.pid for i in world.instances}
    busy0, total0 = cpu_busy()
    own0, sandbox0 = cpu_seconds(), process_cpu(world.sandbox.pid)
    pg0 = world.server.cpu_seconds()
    instance0 = {n: process_cpu(pid) for n, pid in pids.items()}
    started = time.monotonic()
    submitted = await submit_all(world.service, world.folder / "in", jobs, first, rate)
    submit_s = time.monotonic() - started
    limit = (args.render + POLL_TIMEOUT) / args.scale + jobs
    ended = world.ended

    await wait_until(lambda: all(j in ended() for j in submitted), limit, 0.05)
    busy1, total1 = cpu_busy()
    instances = sum(process_cpu(pid) - instance0[n] for n, pid in pids.items())
    own, sandbox = cpu_seconds() - own0, process_cpu(world.sandbox.pid) - sandbox0
    pg = 0.0 if world.sqlite else world.server.cpu_seconds() - pg0
    busy = busy1 - busy0
    cpu = {
        "instances": instances,
        "postgresql": pg,
        "submitter": own,
        "sandbox": sandbox,
        "rest": busy - instances - pg - own - sandbox,
    }
    share = busy / (total1 - total0) if total1 > total0 else None
    return Phase(name, started, submitted, submit_s, busy, share, cpu)


def phase_report(world: World, phase: Phase, queries: dict[str, int]) -> dict[str, Any]:
    scale, ids = world.args.scale, set(phase.submitted)
    ended = {j: v for j, v in world.ended().items() if j in ids}
    delivered: dict[int, float] = {}
    for i in world.instances:
        for job_id, at in i.delivered.items():
            if job_id in ids:
                delivered[job_id] = min(at, delivered.get(job_id, at))
    deliveries = sum(n for i in world.instances for j, n in i.deliveries.items() if j in ids)
    last = max(t for t, _ in ended.values()) if ended else time.monotonic()
    wall = last - phase.started
    per_job = list(queries.values())
    latency = [scale * (delivered[j] - t) for j, t in phase.submitted.items() if j in delivered]
    times = sorted(delivered.values())
    jobs = len(phase.submitted)
    return {
        "jobs": jobs,
        "delivered": len(delivered),
        "outcomes": dict(Counter(status for _, status in ended.values())),
        "duplicate_deliveries": deliveries - len(delivered),
        "delivered_per_instance": [len(ids & set(i.delivered)) for i in world.instances],
        "submit_s": _r(phase.submit_s),
        "wall_s": _r(wall),
        "jobs_per_s": _r(jobs / wall, 1) if wall > 0 else None,
        "delivery_phase_jobs_per_s": (
            _r((len(times) - 1) / (times[-1] - times[0]), 1)
            if len(times) > 1 and times[-1] > times[0]
            else None
        ),
        "latency_p50_s": _r(percentile(latency, 50), 1),
        "latency_p95_s": _r(percentile(latency, 95), 1),
        "queries_per_job": _r(statistics.fmean(per_job), 3) if per_job else None,
        "queries_per_job_p95": percentile(per_job, 95),
        "queries_per_job_max": max(per_job) if per_job else None,
        "tasks": len(per_job),
        "machine_cpu_busy": _r(phase.share) if phase.share is not None else None,
        # CPU seconds over the phase, all cores: the instances, the PostgreSQL server, the
        # submitting process (this one), the sandbox, and the rest (anything else running).
        "cpu_s": {k: _r(v, 1) for k, v in phase.cpu.items()},
        "instance_cpu_ms_per_job": _r(1000 * phase.cpu["instances"] / jobs, 1) if jobs else None,
    }


async def run_count(server: PgServer, args: argparse.Namespace, what: str) -> dict[str, Any]:
    """``what`` instances (``sqlite``: one, on SQLite): ``--paced-jobs`` at ``--rate``,
    then ``--jobs`` all at once."""
    sqlite = what == "sqlite"
    count = 1 if sqlite else int(what)
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp:
        async with World(server, f"instances_{count}", args, Path(tmp), sqlite) as world:
            for n in range(count):
                await world.start(f"i{n + 1}")
            await wait_ready(world.instances)
            phases = []
            if args.paced_jobs:
                phases.append(await run_phase(world, args, "paced", args.paced_jobs, 0, args.rate))
            split = time.monotonic()
            if args.jobs:
                phases.append(await run_phase(world, args, "burst", args.jobs, args.paced_jobs, 0))
    # The sandbox counts queries per task; a paced task was created before the burst began.
    render = args.render / args.scale
    due: dict[str, float] = world.sandbox_report.get("due", {})
    queries: dict[str, int] = world.sandbox_report.get("queries", {})
    by_phase: dict[str, dict[str, int]] = {"paced": {}, "burst": {}}
    for task, n in queries.items():
        by_phase["paced" if due[task] < split + render else "burst"][task] = n
    result: dict[str, Any] = {"store": "sqlite" if sqlite else "postgresql", "instances": count}
    for phase in phases:
        result[phase.name] = phase_report(world, phase, by_phase[phase.name])
    return result


async def run_takeover(server: PgServer, args: argparse.Namespace, round_: int) -> dict[str, Any]:
    """Two instances; SIGKILL the one holding leases mid-delivery; the survivor takes over."""
    scale = args.scale
    jobs = args.takeover_jobs or 3 * args.concurrency
    with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp:
        folder = Path(tmp)
        async with World(server, f"takeover_{round_}", args, folder) as world:
            victim = await world.start("victim", hold=1e6)
            survivor = await world.start("survivor")
            await wait_ready(world.instances)
            await submit_all(world.service, folder / "in", jobs)

            def full() -> bool:
                if len(victim.held) >= args.concurrency:
                    return True
                return bool(victim.held) and len(victim.held) + len(survivor.ended) >= jobs

            limit = (args.render + POLL_TIMEOUT) / scale + jobs
            if not await wait_until(full, limit, 0.01):
                raise RuntimeError(f"the victim never held a job:\n{victim.log()}")
            # At a random point of a lease renewal period (the leases were just taken).
            await asyncio.sleep(random.Random(args.seed + round_).uniform(0, LEASE / 3) / scale)
            killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
            victim.process.send_signal(signal.SIGKILL)
            await victim.process.wait()
            async with await psycopg.AsyncConnection.connect(world.db_url) as conn:
                cursor = await conn.execute(
                    "SELECT id, lease_until FROM jobs WHERE lease_owner LIKE %s",
                    (f"%:{victim.process.pid}:%",),
                )
                leases = {int(r[0]): r[1] for r in await cursor.fetchall()}
            await wait_until(lambda: len(survivor.ended) >= jobs, limit, 0.02)
    samples = []
    for job_id, until in sorted(leases.items()):
        claimed = survivor.first_claim_after(job_id, killed_at)
        done = survivor.delivered.get(job_id)
        left = (until - killed_wall).total_seconds() if until is not None else 0.0
        samples.append(
            {
                "job": job_id,
                "lease_left_s": _r(scale * left),
                "claimed_s": _r(scale * (claimed - killed_at)) if claimed else None,
                "delivered_s": _r(scale * (done - killed_at)) if done else None,
                "reaction_s": _r(scale * (claimed - killed_at - left)) if claimed else None,
            }
        )
    return {
        "round": round_,
        "jobs": jobs,
        "held_by_victim": len(victim.held),
        "leased_by_victim_at_kill": len(leases),
        "victim_delivered": len(victim.delivered),
        "survivor_delivered": len(survivor.delivered),
        "duplicate_deliveries": sum((victim.deliveries + survivor.deliveries).values())
        - len(set(victim.delivered) | set(survivor.delivered)),
        "outcomes": dict(Counter(status for _, status in survivor.ended.values())),
        "samples": samples,
    }


def summary(values: Sequence[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    return {
        "n": len(present),
        "missing": len(values) - len(present),
        "p50": _r(percentile(present, 50)) if present else None,
        "max": _r(max(present)) if present else None,
        "min": _r(min(present)) if present else None,
    }


async def main_async(args: argparse.Namespace, server: PgServer) -> dict[str, Any]:
    results = []
    for count in args.counts.split(","):
        print(
            f"instances: {count}, {args.paced_jobs} jobs at {args.rate:g}/s, "
            f"then {args.jobs} at once …",
            flush=True,
        )
        t = time.perf_counter()
        result = await run_count(server, args, count)
        print(json.dumps(result), f"({time.perf_counter() - t:.0f} s)", flush=True)
        results.append(result)
    rounds = []
    for round_ in range(1, args.kills + 1):
        print(f"instances: takeover round {round_} …", flush=True)
        t = time.perf_counter()
        rounds.append(await run_takeover(server, args, round_))
        print(json.dumps(rounds[-1]), f"({time.perf_counter() - t:.0f} s)", flush=True)
    samples = [s for r in rounds for s in r["samples"]]
    takeover = {
        "rounds": len(rounds),
        "jobs_taken_over": len(samples),
        "kill_to_claim_s": summary([s["claimed_s"] for s in samples]),
        "kill_to_delivered_s": summary([s["delivered_s"] for s in samples]),
        "lease_left_at_kill_s": summary([s["lease_left_s"] for s in samples]),
        "reaction_after_lease_s": summary([s["reaction_s"] for s in samples]),
        "duplicate_deliveries": sum(r["duplicate_deliveries"] for r in rounds),
        "details": rounds,
    }
    phases = [r[name] for r in results for name in ("paced", "burst") if name in r]
    goals: dict[str, Any] = {
        "all_delivered": all(p["delivered"] == p["jobs"] for p in phases)
        and all(r["survivor_delivered"] + r["victim_delivered"] >= r["jobs"] for r in rounds),
        "no_duplicate_deliveries": all(p["duplicate_deliveries"] == 0 for p in [*phases, *rounds]),
    }
    paced = [r["paced"]["queries_per_job"] for r in results if "paced" in r]
    if paced and all(paced):
        # Below capacity the checks keep their schedule: more instances must not add any.
        goals["paced_queries_per_job_flat_within_10pct"] = max(paced) <= 1.1 * paced[0]
    if samples:
        claimed = takeover["kill_to_claim_s"]
        goals["takeover_all_claimed"] = claimed["missing"] == 0
        goals["takeover_max_s"] = claimed["max"]
        goals["takeover_within_lease_plus_5s"] = (claimed["max"] or 0.0) <= LEASE + 5
    return {
        "settings": {
            "burst_jobs": args.jobs,
            "paced_jobs": args.paced_jobs,
            "paced_rate_per_real_s": args.rate,
            "counts": args.counts,
            "scale": args.scale,
            "render_world_s": args.render,
            "poll_interval_world_s": POLL_INTERVAL,
            "lease_world_s": LEASE,
            "poll_concurrency": args.concurrency,
            "poll_strategy": "fixed",
            "submitters": SUBMITTERS,
        },
        "results": results,
        "takeover": takeover,
        "goals": goals,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.instances", description=__doc__.split("\n")[0]
    )
    p.add_argument("--jobs", type=int, default=1000, help="burst: jobs submitted at once")
    p.add_argument("--paced-jobs", type=int, default=150, help="jobs submitted at --rate")
    p.add_argument("--rate", type=float, default=5.0, help="paced jobs per real second")
    p.add_argument(
        "--counts", default="sqlite,1,2,3", help="instance counts (sqlite: 1, on SQLite)"
    )
    p.add_argument("--scale", type=float, default=20.0, help="world seconds per real second")
    p.add_argument("--render", type=float, default=200.0, help="Keevx render time, world s")
    p.add_argument("--concurrency", type=int, default=8, help="POLL_CONCURRENCY per instance")
    p.add_argument("--kills", type=int, default=3, help="takeover rounds (0: none)")
    p.add_argument("--takeover-jobs", type=int, default=0, help="default: 3 × concurrency")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="instances")
    p.add_argument("--worker", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--keevx", help=argparse.SUPPRESS)
    p.add_argument("--hold", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; raises :class:`bench.pg.PgUnavailable` without PostgreSQL."""
    args = parser().parse_args(argv)
    if args.worker:
        asyncio.run(worker(args))
        return {}
    with pg_server() as server:
        report = asyncio.run(main_async(args, server))
    path = write_result(args.out, report)
    print(json.dumps(report["goals"]), f"-> {path}")
    print(json.dumps(machine()))
    return report


if __name__ == "__main__":
    main()
