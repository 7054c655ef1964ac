"""The bot's web server facing strangers: slow and idle sockets, odd callback paths,
forged and misdirected callbacks, the webhook secret in logs, and a corrupt database."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.telegram import TelegramAdapter
from bot.app.runtime import Core
from bot.app.web import WebLimits, WebServer
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.fakes.telegram import FakeTelegram
from tests.support import (
    RecordingAdapter,
    add_lost_job,
    callback_settings,
    callbacks_of,
    submit,
)

ROOT = Path(__file__).resolve().parent.parent

# -- 13: slow, idle and too many connections ----------------------------------------------


@asynccontextmanager
async def serving(limits: WebLimits) -> AsyncIterator[WebServer]:
    server = WebServer(host="127.0.0.1", port=0, limits=limits)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    server.add_route("POST", "/echo", echo)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def connect(server: WebServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.02)


async def answer_then_eof(reader: asyncio.StreamReader, within: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (a bound, not a speed test)."""
    async with asyncio.timeout(within):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def healthz(server: WebServer) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{server.port}/healthz")).status_code


async def test_idle_and_slow_header_sockets_are_closed_while_healthz_answers() -> None:
    async with serving(WebLimits(idle_timeout=1.0, max_connections=400)) as server:
        idle = [await connect(server) for _ in range(100)]
        slow = [await connect(server) for _ in range(100)]
        stop = asyncio.Event()

        async def dribble(writer: asyncio.StreamWriter) -> None:
            """A slowloris: a header line every 0.2 s, never the blank line that ends them."""
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            n = 0
            with suppress(ConnectionError):
                while not stop.is_set():
                    await asyncio.sleep(0.2)
                    writer.write(b"X-%d: y\r\n" % n)
                    await writer.drain()
                    n += 1

        dribblers = [asyncio.create_task(dribble(w)) for _, w in slow]
        await until(lambda: server.connections == 200)
        assert await healthz(server) == 200  # 200 slow sockets do not keep others out
        closed = await asyncio.gather(*(answer_then_eof(r) for r, _ in idle + slow))
        stop.set()
        await asyncio.gather(*dribblers)
        for _, writer in idle + slow:
            writer.close()
        assert all(b"200 OK" not in data for data in closed)  # no slowloris got an answer
        await until(lambda: server.connections == 0)
        assert await healthz(server) == 200


async def test_beyond_the_cap_a_connection_gets_503_until_idle_ones_time_out() -> None:
    async with serving(WebLimits(idle_timeout=1.5, max_connections=10)) as server:
        held = [await connect(server) for _ in range(10)]
        await until(lambda: server.connections == 10)
        reader, writer = await connect(server)
        refused = await answer_then_eof(reader)
        writer.close()
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert server.connections == 10
        for reader, writer in held:  # the idle ones are closed in time, and room comes back
            assert await answer_then_eof(reader) == b""
            writer.close()
        await until(lambda: server.connections == 0)
        assert await healthz(server) == 200


async def test_a_body_that_trickles_in_is_answered_408_and_closed() -> None:
    async with serving(WebLimits(body_timeout=0.5)) as server:
        reader, writer = await connect(server)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        answer = await answer_then_eof(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")
        async with httpx.AsyncClient() as http:  # a body that arrives is read as before
            echoed = await http.post(f"http://127.0.0.1:{server.port}/echo", content=b"x" * 5000)
        assert echoed.text == "5000"


def test_default_limits_are_bounded() -> None:
    limits = WebServer().limits
    assert limits.idle_timeout <= 75 and limits.body_timeout <= 60
    assert 0 < limits.max_connections <= 1024


# -- 14: a generated webhook secret is redacted -------------------------------------------

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.parametrize("own_server", [False, True], ids=["core-web", "own-server"])
async def test_a_generated_webhook_secret_never_reaches_a_log_line(
    settings: Settings, sandbox: Sandbox, own_server: bool
) -> None:
    lines = Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    try:
        async with FakeTelegram(TOKEN) as fake:
            s = dataclasses.replace(
                settings,
                telegram_bot_token=TOKEN,
                telegram_api_url=fake.url,
                telegram_webhook_url="https://bot.example.invalid/tg/hook",
                port=0,
            )
            async with Core(s) as core:
                adapter = TelegramAdapter(
                    s,
                    core.service,
                    shared=core.shared,
                    webhook_host="127.0.0.1",
                    web=None if own_server else core.web,
                )
                await core.start_web()
                await adapter.start()
                try:
                    assert adapter.webhook is not None
                    secret = adapter.webhook.secret
                    assert fake.webhook["secret_token"] == secret  # the generated one is in force
                finally:
                    await adapter.stop()
    finally:
        root.removeHandler(lines)
    assert any("setWebhook" in line for line in lines.lines)  # PTB logged its parameters
    assert [line for line in lines.lines if secret in line] == []


# -- 15, 16, 17: callbacks ------------------------------------------------------------------


async def test_odd_callback_paths_answer_404_without_an_error_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = callback_settings(settings)
    deep = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with Core(settings) as core:
        await core.start_web()
        token = callbacks_of(core).token(999)
        base = f"{settings.public_url}/keevx/callback"
        async with httpx.AsyncClient() as http:
            odd = [
                (await http.post(f"{base}/{'9' * 5000}/{'0' * 32}", json={})).status_code,
                (await http.post(f"{base}/²/x", json={})).status_code,
                (await http.post(f"{base}/١٢/{'0' * 32}", json={})).status_code,  # Arabic digits
                (await http.post(f"{base}/999/{'é' * 32}", json={})).status_code,
                (await http.post(f"{base}/999/{token}x", json={})).status_code,
            ]
            nested = await http.post(f"{base}/999/{token}", content=deep)
    assert odd == [404] * 5
    assert nested.status_code == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_sandbox_callback_tokens_cannot_be_computed_offline(
    settings: Settings, tmp_path: Path
) -> None:
    settings = callback_settings(
        settings, keevx_sandbox=True, keevx_api_key="", sandbox_delay=0.2, poll_timeout=600
    )
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        forged = callbacks_of(core, secret="sandbox").token(1)
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{settings.public_url}/keevx/callback/1/{forged}",
                json={"data": {"task_id": "i2v-forged", "status": "SUCCEEDED"}},
            )
        assert answer.status_code == 404
        # The bot's own URLs still work: with polls an hour apart, only the callback
        # makes the bot look at the task.
        job = await submit(core.service, tmp_path)

        async def checked() -> bool:
            current = await core.service.get(job.id)
            return (
                current is not None and bool(current.tasks) and all(t.done for t in current.tasks)
            )

        async with asyncio.timeout(60):
            while not await checked():
                await asyncio.sleep(0.05)


async def test_an_unknown_job_adopts_only_a_task_that_fits_it(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = callback_settings(settings)
    sandbox.config = dataclasses.replace(sandbox.config, delay=3600)
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        other = await submit(core.service, tmp_path, user="someone-else")
        while (current := await core.service.get(other.id)) and not current.tasks:
            await asyncio.sleep(0.02)
        assert current is not None
        other_task = current.tasks[0].task_id
        # A job whose create answer was lost: 9:16, 6 s.
        lost = await add_lost_job(
            core.store, "dance --ar 9:16 --duration 6", error="Keevx's answer was lost"
        )
        url = callbacks_of(core).url_for(lost)
        sent = next(iter(sandbox.tasks.values())).request["callback_url"]
        assert sent == callbacks_of(core).url_for(other)  # the tokens are the bot's own

        async def post(data: dict[str, Any]) -> int:
            async with httpx.AsyncClient() as http:
                return (await http.post(url, json={"code": 0, "data": data})).status_code

        assert await post({"task_id": other_task, "status": "SUCCEEDED"}) == 200
        after = await core.store.get(lost.id)  # another user's task is not taken
        assert after is not None and after.status is JobStatus.UNKNOWN and after.tasks == ()
        refused = [
            await post({"task_id": "../../etc/passwd"}),
            await post({"task_id": "i2v-" + "a" * 200}),
            await post({"task_id": "i2v-longer", "duration": 10}),
            await post({"task_id": "i2v-landscape", "width": 1280, "height": 720}),
        ]
        after = await core.store.get(lost.id)
        assert refused == [400, 400, 200, 200]
        assert after is not None and after.status is JobStatus.UNKNOWN and after.tasks == ()
        unchanged = await core.store.get(other.id)
        assert unchanged is not None and unchanged.tasks == current.tasks

        # A task that fits is adopted, and the poller's own query decides what it is:
        # here Keevx does not know it, so nothing is delivered.
        fits = {"task_id": "i2v-fits", "duration": 6, "width": 720, "height": 1280}
        assert await post(fits) == 200
        adopted = await core.store.get(lost.id)
        assert adopted is not None and [t.task_id for t in adopted.tasks] == ["i2v-fits"]
        await adapter.wait(lost.id, timeout=10)
        final = await core.store.get(lost.id)
    assert final is not None and final.status is JobStatus.FAILED
    assert adapter.delivered == []


# -- 18: a corrupt database -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "jobs", "doctor"])
def test_a_corrupt_database_is_one_line_not_a_traceback(tmp_path: Path, command: str) -> None:
    (tmp_path / "bot.db").write_text("garbage\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "DATABASE_URL": "sqlite:///bot.db",
        "KEEVX_API_KEY": "k",
        "KEEVX_BASE_URL": "http://127.0.0.1:9/v1",  # loopback, closed: nothing leaves
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    if command == "doctor":  # the doctor lists every check; the database's is the bad one
        assert "BAD  database      cannot open the database bot.db" in result.stdout
    else:
        assert result.stderr.strip().splitlines() == [
            "keevx-bot: cannot open the database bot.db: file is not a database"
        ]
