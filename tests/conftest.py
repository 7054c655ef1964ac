"""Shared fixtures. No test may reach beyond loopback: the guard below fails it."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.logs import quiet_libraries
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.settings import Settings
from tests.pg import pg_server, pg_url  # noqa: F401 - PostgreSQL fixtures for every test

API_KEY = "test-key-0123456789"
# The tokens the adapter tests use; none may ever show up where it does not belong.
SECRETS = (API_KEY, "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789", "fake-token")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: Any) -> None:
    if isinstance(address, tuple):
        host = address[0]
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection to a non-loopback address (PTB's OfflineRequest idea)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[None]:
    """Every test runs at DEBUG, with the libraries set as in production; no line may hold a secret.

    Exception tracebacks are included: a logged ``repr`` of a URL is a leak too.
    """
    handler = _Lines()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    restore = quiet_libraries()
    try:
        yield
    finally:
        # Also drops what a test's `keevx-bot` run installed (setup_logging): its stream
        # was that test's captured stderr, closed by now.
        root.handlers[:] = handlers
        root.setLevel(level)
        restore()
    found = [line for line in handler.lines if leaks(line)]
    assert not found, f"secrets in log lines: {found[:3]}"


def check_sent_to_keevx(sandbox: Sandbox) -> None:
    """Nothing the bot sent Keevx may hold a secret; only the API key, in its header."""
    for call in sandbox.calls:
        sent = f"{call.path} {call.json} {call.filename}"
        assert not leaks(sent) and "/file/bot" not in sent, f"secret sent to Keevx: {call}"
        assert set(call.headers.get("authorization", "Bearer x").split()[1:]) <= {API_KEY, "x"}


def core_settings(sandbox: Sandbox, folder: Path) -> Settings:
    """Settings for a core on a database in ``folder``, talking to the sandbox fast."""
    return Settings(
        keevx_api_key=API_KEY,
        keevx_base_url=sandbox.base_url,
        keevx_max_rps=0,
        retry_wait_429=0.01,
        retry_wait_500=0.01,
        database_url=f"sqlite:///{folder / 'bot.db'}",
        poll_interval=0.05,
        poll_timeout=30,
        max_active_per_user=0,  # limits have their own tests
        daily_videos_per_user=0,
    )


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """The Keevx sandbox; afterwards, nothing the bot sent it may hold a secret."""
    async with Sandbox(SandboxConfig(delay=0.2, render_height=144, seed=7)) as running:
        yield running
    check_sent_to_keevx(running)


@pytest.fixture
def settings(tmp_path: Path, sandbox: Sandbox) -> Iterator[Settings]:
    """Settings for a core on a temporary database, talking to the sandbox fast.

    Afterwards the database files may hold no secret.
    """
    yield core_settings(sandbox, tmp_path)
    for db in tmp_path.glob("bot.db*"):
        content = db.read_bytes().decode("utf-8", "replace")
        assert not leaks(content) and "/file/bot" not in content, f"secret stored in {db.name}"
