"""Several instances on one PostgreSQL database: exactly one runs Telegram long polling.

Telegram allows one ``getUpdates`` consumer per token (the fake, like the real API,
answers 409 to a second concurrent one and records it in ``poll_conflicts``). The
leader holds a PostgreSQL advisory lock on a connection of its own; when it dies the
lock goes with its connection and a standby instance takes over within 30 s (the
product's bound), and no update is lost or handled twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
import pytest

from adapters.telegram import TelegramAdapter
from bot.app.runtime import Core
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import Job
from bot.settings import Settings
from storage import open_store
from storage.leadership import PostgresLeadership, leadership_for, lock_key
from tests.fakes.telegram import FakeTelegram
from tests.support import stop_processes

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "515151:leader-election-token"
KEY = "sk-leader-election-key"
TAKEOVER_BOUND = 30.0  # seconds: a dead leader's place is taken within this


# -- the PostgreSQL election itself ---------------------------------------------------------


async def terminate_holders(pg_url: str, name: str) -> int:
    """Kill the server sessions holding ``name``'s advisory lock (a leader's dying connection)."""
    key = lock_key(name)
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND granted",
            (classid, objid),
        )
        return len(await cur.fetchall())


async def test_a_second_instance_leads_only_after_the_first_connection_is_gone(
    pg_url: str,
) -> None:
    first, second = PostgresLeadership(pg_url, check_every=0.2), PostgresLeadership(pg_url)
    lead = await first.try_lead("telegram-polling:1")
    assert lead is not None
    assert await second.try_lead("telegram-polling:1") is None  # held by another session
    other = await second.try_lead("telegram-polling:2")  # another bot: its own leader
    assert other is not None
    await other.release()

    assert await terminate_holders(pg_url, "telegram-polling:1") == 1  # its connection dies
    await asyncio.wait_for(lead.lost(), 10)  # the holder notices: it stops leading
    taken = await second.try_lead("telegram-polling:1")
    assert taken is not None
    assert await first.try_lead("telegram-polling:1") is None
    await taken.release()  # a release frees it too
    again = await first.try_lead("telegram-polling:1")
    assert again is not None
    await again.release()
    await lead.release()  # idempotent on a dead connection


async def test_the_store_url_picks_the_election(tmp_path: Path, pg_url: str) -> None:
    assert leadership_for(f"sqlite:///{tmp_path}/bot.db") is None  # one process: always leads
    assert isinstance(leadership_for(pg_url), PostgresLeadership)
    with_password = pg_url.replace("postgres@", "postgres:hunter2@")
    assert "hunter2" not in repr(leadership_for(with_password))


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    from bot.errors import StoreError

    election = PostgresLeadership("postgresql://u:s3cret-pw@127.0.0.1:1/db", connect_timeout=2)
    with pytest.raises(StoreError) as caught:
        await election.try_lead("x")
    assert "s3cret-pw" not in str(caught.value)


# -- two adapters in one process: the leader's connection is cut -----------------------------


@asynccontextmanager
async def adapter_on(
    settings: Settings, pg_url: str, fake: FakeTelegram, name: str
) -> AsyncIterator[TelegramAdapter]:
    s = dataclasses.replace(
        settings,
        database_url=pg_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=fake.api_url_for(name),
    )
    async with Core(s) as core:
        adapter = TelegramAdapter(
            s,
            core.service,
            shared=core.shared,
            updates_timeout=1,
            leadership=PostgresLeadership(pg_url, check_every=0.2),
            leader_retry=0.3,
        )
        await adapter.start()
        await core.attach(adapter)
        try:
            yield adapter
        finally:
            await core.poller.stop(5)
            await adapter.stop()


def leads(adapter: TelegramAdapter) -> bool:
    """Read afresh each time (the adapter's tasks change it)."""
    return adapter.leading


def running(adapter: TelegramAdapter) -> bool:
    return adapter.fetcher is not None and adapter.fetcher.running


async def test_a_leader_whose_lock_connection_dies_stops_polling_and_the_other_takes_over(
    settings: Settings, sandbox: Sandbox, pg_url: str
) -> None:
    async with (
        FakeTelegram(TOKEN) as fake,
        adapter_on(settings, pg_url, fake, "a") as first,
        adapter_on(settings, pg_url, fake, "b") as second,
    ):
        assert first.leading and not second.leading  # the first started leads
        assert first.fetcher is not None and second.fetcher is not None
        assert first.fetcher.running and not second.fetcher.running
        keys = send_photos(fake, range(3001, 3004))
        await wait_jobs(pg_url, len(keys))
        await asyncio.sleep(1)  # the second tried to lead a few times meanwhile
        assert pollers(fake) == {"a"}

        assert await terminate_holders(pg_url, first.lead_name) == 1
        async with asyncio.timeout(TAKEOVER_BOUND):  # the new leader polls within the bound
            while leads(first) or not leads(second) or not running(second):
                await asyncio.sleep(0.05)
        assert not running(first) and running(second)
        # Until the old leader noticed (its next check) both may have polled: the fake,
        # like Telegram, answered one of them 409, which it retries; nothing more.
        await asyncio.sleep(0.6)  # the old leader's last long poll has ended on the fake
        before = len(fake.calls_of("getUpdates"))
        keys += send_photos(fake, range(3004, 3007))
        jobs = await wait_jobs(pg_url, len(keys))
        new_polls = fake.calls_of("getUpdates")[before:]
        assert {c.via for c in new_polls} == {"b"}  # the old leader polls no more
        # A long poll the old leader began before it noticed may still meet the new
        # leader's on a loaded machine: those 409s are between these two, and retried.
        assert set(fake.poll_conflicts) <= {("a", "b"), ("b", "a")}
        assert not leads(first)
    made = Counter(str(j.dedupe_key) for j in jobs)
    assert sorted(made) == sorted(keys) and set(made.values()) == {1}


# -- two real `python -m bot` processes -----------------------------------------------------


@dataclass
class Instance:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def start_instance(
    name: str, *, pg_url: str, fake: FakeTelegram, sandbox: Sandbox, home: Path
) -> Instance:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "KEEVX_API_KEY": KEY,
        "KEEVX_BASE_URL": sandbox.base_url,
        "KEEVX_MAX_RPS": "0",
        "DATABASE_URL": pg_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": fake.api_url_for(name),
        "POLL_INTERVAL": "0.5",
        "POLL_STRATEGY": "fixed",
        "MAX_ACTIVE_PER_USER": "0",
        "DAILY_VIDEOS_PER_USER": "0",
        "LOG_LEVEL": "INFO",
    }
    log_path = home / f"{name}.log"
    log_file = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the bot
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot"),
        cwd=home,
        env=env,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Instance(name, process, log_path, log_file)


@asynccontextmanager
async def two_instances(
    pg_url: str, fake: FakeTelegram, sandbox: Sandbox, home: Path
) -> AsyncIterator[list[Instance]]:
    """Two bots on one database and token, both started (one polls, one stands by)."""
    instances = []
    for name in ("a", "b"):
        instances.append(
            await start_instance(name, pg_url=pg_url, fake=fake, sandbox=sandbox, home=home)
        )
    try:
        async with asyncio.timeout(30):
            for i in instances:  # started: each set the command list and decided on its role
                while "telegram is running" not in i.log():
                    assert i.process.returncode is None, i.log()[-3000:]
                    await asyncio.sleep(0.1)
        yield instances
    finally:
        await stop_processes(instances)
        for i in instances:
            assert TOKEN.split(":")[1] not in i.log(), f"the bot token is in {i.name}'s log"


def pollers(fake: FakeTelegram) -> set[str | None]:
    return {c.via for c in fake.calls_of("getUpdates")}


async def all_jobs(pg_url: str) -> list[Job]:
    store = await open_store(pg_url)
    try:
        return list(await store.recent(limit=1000))
    finally:
        await store.close()


async def wait_jobs(pg_url: str, count: int, within: float = 30.0) -> list[Job]:
    async with asyncio.timeout(within):
        while len(jobs := await all_jobs(pg_url)) < count:
            await asyncio.sleep(0.2)
    return jobs


def send_photos(fake: FakeTelegram, chats: range) -> list[str]:
    """One photo with a caption per private chat (one job each); their dedupe keys."""
    keys = []
    for chat in chats:
        msg = fake.photo_message(chat, f"waves for chat {chat}")
        keys.append(f"telegram:{chat}:{msg['message_id']}")
    return keys


async def test_one_instance_polls_and_the_other_takes_over_when_it_is_killed(
    pg_url: str, tmp_path: Path
) -> None:
    async with (
        FakeTelegram(TOKEN) as fake,
        Sandbox(SandboxConfig(delay=30, render_height=36)) as sandbox,
        two_instances(pg_url, fake, sandbox, tmp_path) as instances,
    ):
        by_name = {i.name: i for i in instances}
        async with asyncio.timeout(10):
            while not pollers(fake):
                await asyncio.sleep(0.1)
        (leader_name,) = pollers(fake)
        assert leader_name is not None
        leader = by_name[leader_name]
        standby = by_name["b" if leader_name == "a" else "a"]
        assert "this one stands by" in standby.log()

        keys = send_photos(fake, range(2001, 2006))
        await wait_jobs(pg_url, len(keys))
        await asyncio.sleep(6)  # the standby tried to lead again at least once meanwhile
        assert pollers(fake) == {leader.name}  # only the leader ever called getUpdates
        assert fake.poll_conflicts == []

        keys += send_photos(fake, range(2006, 2011))  # in flight (or not yet fetched) ...
        leader.process.send_signal(signal.SIGKILL)  # ... when the leader dies
        await leader.process.wait()
        killed_at = asyncio.get_running_loop().time()
        keys += send_photos(fake, range(2011, 2016))  # while nobody polls
        try:
            async with asyncio.timeout(TAKEOVER_BOUND):
                while standby.name not in pollers(fake):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"no takeover:\n{standby.log()[-3000:]}") from None
        took = asyncio.get_running_loop().time() - killed_at
        assert took < TAKEOVER_BOUND
        jobs = await wait_jobs(pg_url, len(keys))
        await asyncio.sleep(1)  # anything handled twice would show up as a second job now
        jobs = await all_jobs(pg_url)
        assert fake.poll_conflicts == []
        assert "this instance leads" in standby.log()

    made = Counter(str(j.dedupe_key) for j in jobs)
    assert sorted(made) == sorted(keys)  # none lost ...
    assert set(made.values()) == {1}  # ... none doubled
    assert fake.pending_updates == []  # all confirmed in the end
