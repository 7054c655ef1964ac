"""Shared fixtures. No test may reach beyond loopback: the guard below fails it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import Sandbox, SandboxConfig
from bot.settings import Settings

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


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxConfig(delay=0.2, render_height=144, seed=7)) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, sandbox: Sandbox) -> Settings:
    """Settings for a core on a temporary database, talking to the sandbox fast."""
    return Settings(
        keevx_api_key="test-key-0123456789",
        keevx_base_url=sandbox.base_url,
        keevx_max_rps=0,
        retry_wait_429=0.01,
        retry_wait_500=0.01,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        poll_interval=0.05,
        poll_timeout=30,
        max_active_per_user=0,  # limits have their own tests
        daily_videos_per_user=0,
    )
