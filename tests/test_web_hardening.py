"""The bot's web server facing strangers: slow and idle sockets, the webhook secret in
logs, and a corrupt database."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.telegram import TelegramAdapter
from bot.runtime import Core
from bot.sandbox import Sandbox
from bot.settings import Settings
from bot.web import WebLimits, WebServer
from tests.fakes.telegram import FakeTelegram

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
                    s, core.service, webhook_host="127.0.0.1", web=None if own_server else core.web
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
