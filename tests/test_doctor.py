"""``keevx-bot doctor`` names what is wrong and never prints a secret."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.app.cli import main
from bot.app.doctor import diagnose
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.settings import Settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
async def platforms() -> AsyncIterator[str]:
    """A minimal Bot API getMe and Discord /users/@me that check the token."""

    async def get_me(request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401}, status=401)
        return web.json_response({"ok": True, "result": {"id": 1, "username": "keevx_test_bot"}})

    async def users_me(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bot discord-secret":
            return web.json_response({"code": 0, "message": "401: Unauthorized"}, status=401)
        return web.json_response({"id": "1", "username": "Keevx"})

    app = web.Application()
    app.router.add_get("/bot{token}/getMe", get_me)
    app.router.add_get("/api/users/@me", users_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_all_good(settings: Settings, platforms: str) -> None:
    good = dataclasses.replace(
        settings,
        telegram_bot_token=TOKEN,
        telegram_api_url=platforms,
        discord_bot_token="discord-secret",
        discord_api_url=f"{platforms}/api",
    )
    checks = {c.name: c for c in await diagnose(good)}
    assert all(c.ok for c in checks.values()), checks
    assert "accepts the API key" in checks["keevx"].detail
    assert "@keevx_test_bot" in checks["telegram"].detail and "Keevx" in checks["discord"].detail


async def test_each_problem_is_named(settings: Settings, platforms: str, tmp_path: Path) -> None:
    async with Sandbox(SandboxConfig(api_key="right-key")) as strict:
        bad = dataclasses.replace(
            settings,
            keevx_base_url=strict.base_url,
            keevx_api_key="wrong-key",
            telegram_bot_token="1:wrong",
            telegram_api_url=platforms,
            discord_bot_token="nope",
            discord_api_url="http://127.0.0.1:9/api",
            database_url=f"sqlite:///{tmp_path}/file-not-dir/x.db",
        )
        (tmp_path / "file-not-dir").write_text("a file where a folder should be")
        checks = {c.name: c for c in await diagnose(bad)}
    assert not any(c.ok for name, c in checks.items() if name != "configuration")
    assert "KEEVX_API_KEY" in checks["keevx"].detail
    assert "TELEGRAM_BOT_TOKEN" in checks["telegram"].detail
    assert "cannot reach" in checks["discord"].detail
    text = " ".join(c.detail for c in checks.values())
    assert "wrong-key" not in text and "1:wrong" not in text and "nope" not in text


async def test_cli_prints_checks_without_secrets(
    settings: Settings,
    platforms: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KEEVX_API_KEY", settings.keevx_api_key)
    monkeypatch.setenv("KEEVX_BASE_URL", settings.keevx_base_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", platforms)
    assert await asyncio.to_thread(main, ["doctor"]) == 0  # its own loop; the fakes run on ours
    out = capsys.readouterr().out
    assert "ok   telegram" in out and TOKEN not in out and settings.keevx_api_key not in out
