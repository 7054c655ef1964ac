"""Several whole bots on one PostgreSQL database, as several real ``python -m bot`` processes.

Each instance is its own process with its own ``PORT``; all share one database, one
Telegram token, webhook URL and secret, and one working directory (so one
``./data/spool``: they run on one machine here). The fake Telegram plays Telegram
behind a load balancer: it POSTs updates to the instances' webhook route round-robin,
skipping one that cannot be reached. Each instance reaches the fake through its own
API base (``FakeTelegram.api_url_for``), so every Bot API call names the instance
that made it. The Keevx sandbox runs in the test process; the final state is read
with ``storage.open_store`` and, for the leases, with plain SQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import psycopg

from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import Job, JobStatus
from storage import open_store
from tests.fakes.telegram import Call, FakeTelegram, WebhookPost
from tests.support import stop_processes

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:multi-instance-token"
KEY = "sk-multi-instance-key"
SECRET = "multi_Instance-secret"
WEBHOOK_URL = "https://bot.example.invalid/tg/hook"  # only its path matters to the instances
LEASE_RESUME_BOUND = 45.0  # seconds: the lease is 30 s, renewed every 10 s
VIDEO_METHODS = ("sendVideo", "sendDocument")


@dataclass
class Instance:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_instance(
    name: str, *, pg_url: str, fake: FakeTelegram, sandbox: Sandbox, machine: Path
) -> Instance:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(machine),
        "KEEVX_API_KEY": KEY,
        "KEEVX_BASE_URL": sandbox.base_url,
        "KEEVX_MAX_RPS": "0",
        "DATABASE_URL": pg_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": fake.api_url_for(name),
        "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PORT": str(port),
        "POLL_INTERVAL": "0.5",
        "POLL_STRATEGY": "fixed",
        "MAX_ACTIVE_PER_USER": "0",
        "DAILY_VIDEOS_PER_USER": "0",
        "LOG_LEVEL": "INFO",
    }
    log_path = machine / f"{name}.log"
    log_file = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the bot
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot"),
        cwd=machine,  # one machine: every instance spools under the same ./data
        env=env,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Instance(name, port, process, log_path, log_file)


async def wait_ready(fake: FakeTelegram, instances: list[Instance]) -> None:
    """Each instance answers /healthz and has registered the webhook."""
    async with aiohttp.ClientSession() as http:
        for instance in instances:
            try:
                async with asyncio.timeout(30):
                    while not any(c.via == instance.name for c in fake.calls_of("setWebhook")):
                        assert instance.process.returncode is None, "the instance exited"
                        await asyncio.sleep(0.1)
                    async with http.get(f"{instance.url}/healthz") as resp:
                        assert resp.status == 200
            except (TimeoutError, AssertionError):
                log = instance.log()[-3000:]
                raise AssertionError(f"{instance.name} did not start:\n{log}") from None
    fake.set_webhook_targets([i.url for i in instances])


async def stop_instance(instance: Instance) -> None:
    """SIGTERM; it must exit 0 within 30 s."""
    if instance.process.returncode is None:
        instance.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(instance.process.wait(), 30)
    assert instance.process.returncode == 0, instance.log()[-3000:]


@asynccontextmanager
async def fleet(
    count: int, *, pg_url: str, fake: FakeTelegram, sandbox: Sandbox, machine: Path
) -> AsyncIterator[list[Instance]]:
    """``count`` instances, ready; any still running at the end is stopped (killed if stuck)."""
    machine.mkdir(exist_ok=True)
    instances = [
        await start_instance(f"i{n}", pg_url=pg_url, fake=fake, sandbox=sandbox, machine=machine)
        for n in range(count)
    ]
    try:
        await wait_ready(fake, instances)
        yield instances
    finally:
        await stop_processes(instances)
        secret = TOKEN.split(":")[1]
        for instance in instances:
            assert secret not in instance.log(), f"the bot token is in {instance.name}'s log"


async def all_jobs(pg_url: str) -> list[Job]:
    store = await open_store(pg_url)
    try:
        return list(await store.recent(limit=1000))
    finally:
        await store.close()


async def leases_of(conn: psycopg.AsyncConnection[Any], pid: int) -> dict[int, tuple[str, int]]:
    """The jobs whose lease the process ``pid`` holds: id -> (status, version)."""
    cur = await conn.execute(
        "SELECT id, status, version FROM jobs WHERE lease_owner LIKE %s AND lease_until > now()",
        (f"%:{pid}:%",),
    )
    return {int(r[0]): (str(r[1]), int(r[2])) for r in await cur.fetchall()}


async def versions(conn: psycopg.AsyncConnection[Any], ids: list[int]) -> dict[int, int]:
    cur = await conn.execute("SELECT id, version FROM jobs WHERE id = ANY(%s)", (ids,))
    return {int(r[0]): int(r[1]) for r in await cur.fetchall()}


async def wait_all_terminal(pg_url: str, count: int, within: float) -> list[Job]:
    async with asyncio.timeout(within):
        while True:
            jobs = await all_jobs(pg_url)
            if len(jobs) >= count and all(j.status.terminal for j in jobs):
                return jobs
            await asyncio.sleep(0.5)


def videos_by_chat(fake: FakeTelegram) -> Counter[int]:
    return Counter(
        int(c["chat_id"]) for m in VIDEO_METHODS for c in fake.calls_of(m) if c.status == 200
    )


def video_calls(fake: FakeTelegram) -> list[Call]:
    return [c for m in VIDEO_METHODS for c in fake.calls_of(m) if c.status == 200]


def photo_update(fake: FakeTelegram, chat_id: int) -> dict[str, Any]:
    """A private chat's photo with a caption: one job."""
    message = fake.photo_message(chat_id, f"waves in chat {chat_id}", queue=False)
    return fake.new_update({"message": message})


# --- three instances, one killed mid-run ------------------------------------------------------

JOBS = 45
FIRST_CHAT = 5001
# Leases held while a job is shown are the safe ones to die with: `received` (not yet
# uploaded) and `submitted` (a status check). A job left in `submitting` is README's
# documented exception: nobody can tell whether Keevx got it, so it ends `unknown`.
SAFE_TO_DIE_IN = {JobStatus.RECEIVED.value, JobStatus.SUBMITTED.value}


async def test_three_instances_share_the_jobs_and_survive_a_sigkill(
    pg_url: str, tmp_path: Path
) -> None:
    config = SandboxConfig(delay=6, render_height=36, seed=11)
    async with (
        FakeTelegram(token=TOKEN) as fake,
        Sandbox(config) as sandbox,
        fleet(3, pg_url=pg_url, fake=fake, sandbox=sandbox, machine=tmp_path / "machine") as fleet_,
        await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn,
    ):
        victim = fleet_[2]
        # Status messages take their time (as over a real network): workers hold leases
        # while they show them, so the victim dies holding some.
        fake.slow("sendMessage", 0.5)
        fake.slow("editMessageText", 0.5)
        fake.slow("getFile", 0.3)  # intake takes a moment: some updates are in flight at the kill

        accepted: list[int] = []
        killed = asyncio.Event()
        sender_gate = asyncio.Semaphore(6)

        async def send(n: int, chat_id: int) -> None:
            if n >= JOBS * 2 // 3:
                await killed.wait()  # the last third comes after the kill: it is midway
            async with sender_gate:
                await fake.deliver(photo_update(fake, chat_id), within=60)
                accepted.append(chat_id)

        chats = [FIRST_CHAT + n for n in range(JOBS)]
        sending = [asyncio.create_task(send(n, c)) for n, c in enumerate(chats)]
        try:
            # Midway: once half the updates are jobs, kill the victim while it holds leases
            # only in safe states, before any video is finished.
            async with asyncio.timeout(30):
                while True:
                    held = await leases_of(conn, victim.process.pid)
                    if (
                        len(accepted) >= JOBS // 2
                        and held
                        and {s for s, _ in held.values()} <= SAFE_TO_DIE_IN
                    ):
                        victim.process.send_signal(signal.SIGKILL)
                        killed.set()
                        break
                    await asyncio.sleep(0.02)
            killed_at = asyncio.get_running_loop().time()
            await victim.process.wait()
            sent_before_kill = len(accepted)
            # The dead process can write nothing more: its leases are frozen until they run out.
            left = await leases_of(conn, victim.process.pid)
            assert left, "the victim let go of its leases before it died; try again"
            await asyncio.gather(*sending)
        finally:
            for task in sending:
                task.cancel()

        # Resumed by the others (a claim bumps the version) within the lease's bound.
        deadline = killed_at + LEASE_RESUME_BOUND
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    now = await versions(conn, list(left))
                    if all(now[i] > v for i, (_, v) in left.items()):
                        break
                    await asyncio.sleep(0.25)
        except TimeoutError:
            raise AssertionError(
                f"jobs {sorted(left)} left by the killed instance were not resumed within "
                f"{LEASE_RESUME_BOUND} s of the kill"
            ) from None
        jobs = await wait_all_terminal(pg_url, JOBS, within=60)
        for instance in fleet_[:2]:
            await stop_instance(instance)
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
        posts = list(fake.webhook_posts)
        videos = video_calls(fake)

    assert JOBS // 2 <= sent_before_kill < JOBS
    # One job per update, whichever instance took it (and however often it was retried).
    assert sorted(accepted) == chats
    assert sorted(int(j.target.chat_id) for j in jobs) == chats, [j.target for j in jobs]
    # The kill waited for safe states, but a job may have moved on in the instant before
    # the signal: one left in `submitting` is README's documented exception (`unknown`).
    in_doubt = {i for i, (status, _) in left.items() if status == JobStatus.SUBMITTING.value}
    doubtful = [j for j in jobs if j.id in in_doubt]
    sure = [j for j in jobs if j.id not in in_doubt]
    assert all(j.status is JobStatus.UNKNOWN and j.create_requests == 1 for j in doubtful)
    # Created at Keevx once each, delivered once each.
    assert Counter(j.status for j in sure) == {JobStatus.DELIVERED: len(sure)}, [
        (j.id, j.status, j.error) for j in sure if j.status is not JobStatus.DELIVERED
    ]
    assert all(j.create_requests == 1 and len(j.tasks) == 1 for j in sure)
    task_ids = [t.task_id for j in sure for t in j.tasks]
    assert len(set(task_ids)) == len(sure) and set(task_ids) <= set(sandbox.tasks)
    # One create call per job (a job in doubt made at most one).
    assert len(sure) <= len(creates) <= JOBS
    if not doubtful:
        assert len(creates) == JOBS and set(task_ids) == set(sandbox.tasks)
    sure_chats = [int(j.target.chat_id) for j in sure]
    assert videos_by_chat(fake) == Counter({c: 1 for c in sure_chats})
    # The killed instance's jobs were finished by the others.
    left_chats = {int(j.target.chat_id) for j in jobs if j.id in left}
    assert left_chats and all(
        c.via != victim.name for c in videos if int(c["chat_id"]) in left_chats
    )
    # The load balancer did meet the dead instance, and moved on.
    assert any(p.target == victim.url and not p.ok for p in posts)
    assert {p.target for p in posts if p.ok} == {i.url for i in fleet_}


# --- one update, two instances at once ------------------------------------------------------


async def test_the_same_update_at_two_instances_at_once_makes_one_job(
    pg_url: str, tmp_path: Path
) -> None:
    async with (
        FakeTelegram(token=TOKEN) as fake,
        Sandbox(SandboxConfig(delay=0.5, render_height=36, seed=3)) as sandbox,
        fleet(2, pg_url=pg_url, fake=fake, sandbox=sandbox, machine=tmp_path / "machine") as fleet_,
    ):
        fake.slow("getFile", 0.3)  # both are inside the intake at the same time
        update = photo_update(fake, 7001)
        posts = await fake.deliver_at_once(update, [0, 1])
        await fake.wait_for("sendVideo", within=30)
        jobs = await wait_all_terminal(pg_url, 1, within=30)
        await asyncio.sleep(1.0)  # room for a second job or video, if there were one
        jobs = await all_jobs(pg_url)
        for instance in fleet_:
            await stop_instance(instance)
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
        fetched = {c.via for c in fake.calls_of("getFile")}
    assert fetched == {"i0", "i1"}  # both instances did work on the update
    assert [p.status for p in posts] == [200, 200], posts
    assert len(jobs) == 1 and jobs[0].status is JobStatus.DELIVERED
    assert jobs[0].create_requests == 1 and len(creates) == 1
    assert videos_by_chat(fake) == Counter({7001: 1})


# --- SIGTERM leaves the webhook to the others -----------------------------------------------


async def test_sigterm_on_one_instance_keeps_the_webhook(pg_url: str, tmp_path: Path) -> None:
    async with (
        FakeTelegram(token=TOKEN) as fake,
        Sandbox(SandboxConfig(delay=0.5, render_height=36, seed=5)) as sandbox,
        fleet(2, pg_url=pg_url, fake=fake, sandbox=sandbox, machine=tmp_path / "machine") as fleet_,
    ):
        leaving, staying = fleet_
        await stop_instance(leaving)
        assert not [c for c in fake.calls_of("deleteWebhook") if c.via == leaving.name]
        assert fake.webhook == {"url": WEBHOOK_URL, "secret_token": SECRET}
        # Updates still arrive, at the instance that is left.
        post = await fake.deliver(photo_update(fake, 8001), within=30)
        assert post.target == staying.url
        await fake.wait_for("sendVideo", within=30)
        await stop_instance(staying)
    assert not fake.calls_of("deleteWebhook")


# --- an album whose parts reach both instances -------------------------------------------


async def test_album_parts_at_two_instances_make_one_job(pg_url: str, tmp_path: Path) -> None:
    async with (
        FakeTelegram(token=TOKEN) as fake,
        Sandbox(SandboxConfig(delay=0.5, render_height=36, seed=7)) as sandbox,
        fleet(2, pg_url=pg_url, fake=fake, sandbox=sandbox, machine=tmp_path / "machine") as fleet_,
    ):
        parts = fake.album(9001, 4, "four views", queue=False)
        updates = [fake.new_update({"message": m}) for m in parts]

        async def send(n: int, update: dict[str, Any]) -> WebhookPost:
            await asyncio.sleep(0.2 * n)  # the parts trickle in, alternately at each instance
            return await fake.deliver(update, to=n % 2, within=60)

        # Each instance answers a part only once its album is a job: all are sent at once.
        posts = await asyncio.gather(*(send(n, u) for n, u in enumerate(updates)))
        await fake.wait_for("sendVideo", within=30)
        await wait_all_terminal(pg_url, 1, within=30)
        await asyncio.sleep(1.0)  # room for a second job or video, if there were one
        jobs = await all_jobs(pg_url)
        for instance in fleet_:
            await stop_instance(instance)
        creates = [c for c in sandbox.calls if c.path.endswith("/image_to_video")]
        fetched_by = {c.via for c in fake.calls_of("getFile")}
    assert [p.target for p in posts] == [fleet_[n % 2].url for n in range(4)]
    assert all(p.status == 200 for p in posts), posts
    assert len(jobs) == 1 and jobs[0].status is JobStatus.DELIVERED, jobs
    assert jobs[0].request.image_count == 4 and jobs[0].request.prompt == "four views"
    assert len(creates) == 1 and len(creates[0].json["reference_images"]) == 4
    assert len(fetched_by) == 1  # one instance took the whole album over
    assert videos_by_chat(fake) == Counter({9001: 1})
