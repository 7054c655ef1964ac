"""``keevx-bot doctor``: check configuration, database, Keevx and platforms; show no secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from bot.errors import ApiRejected, BotError, KeevxCode, KeevxError
from bot.keevx.client import KeevxClient, RetryPolicy
from bot.model.database_url import database_kind, sqlite_path
from bot.settings import Settings
from storage import open_store

__all__ = ["Check", "diagnose"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def _database(settings: Settings, http: httpx.AsyncClient) -> str:
    store = await open_store(settings.database_url)
    try:
        jobs = await store.recent(limit=1)
    finally:
        await store.close()
    newest = f"newest job {jobs[0].id}" if jobs else "no jobs yet"
    return f"{_database_name(settings.database_url)} opens and is migrated ({newest})"


def _database_name(database_url: str) -> str:
    """The SQLite file, or ``PostgreSQL at host:port/db``: never the password."""
    if database_kind(database_url) == "sqlite":
        return sqlite_path(database_url)
    parts = urlsplit(database_url)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"PostgreSQL at {parts.hostname}{port}{parts.path}"


async def _keevx(settings: Settings, http: httpx.AsyncClient) -> str:
    if settings.keevx_sandbox:
        return "KEEVX_SANDBOX=1: the built-in emulator is used, no credits are spent"
    if not settings.keevx_api_key:
        raise BotError("KEEVX_API_KEY is not set")
    client = KeevxClient(
        settings.keevx_api_key, settings.keevx_base_url, http=http, retry=RetryPolicy(max_retries=0)
    )
    try:
        await client.query("i2v-keevx-bot-doctor")
    except ApiRejected as exc:
        if exc.kind is KeevxCode.TASK_NOT_FOUND:
            return f"{settings.keevx_base_url} answers and accepts the API key"
        if exc.kind is KeevxCode.TOKEN or exc.status == 401:
            raise BotError("Keevx refused KEEVX_API_KEY (code 100002): check the key") from None
        raise BotError(f"Keevx answered an unexpected error: {exc}") from None
    except KeevxError as exc:
        raise BotError(f"cannot reach {settings.keevx_base_url}: {exc}") from None
    return f"{settings.keevx_base_url} answers"


async def _telegram(settings: Settings, http: httpx.AsyncClient) -> str:
    url = f"{settings.telegram_api_url}/bot{settings.telegram_bot_token}/getMe"
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        raise BotError(f"cannot reach {settings.telegram_api_url} ({type(exc).__name__})") from None
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if response.status_code == 401:
        raise BotError("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather")
    if not body.get("ok"):
        raise BotError(f"Telegram answered HTTP {response.status_code}")
    me = body["result"]
    detail = f"logged in as @{me.get('username', '?')}"
    if not me.get("can_read_all_group_messages"):
        from adapters.telegram.adapter import PRIVACY_MODE_ON  # the one wording, with the log's

        detail += f"; {PRIVACY_MODE_ON}"
    return detail


async def _discord(settings: Settings, http: httpx.AsyncClient) -> str:
    headers = {"Authorization": f"Bot {settings.discord_bot_token}"}
    try:
        response = await http.get(f"{settings.discord_api_url}/users/@me", headers=headers)
    except httpx.HTTPError as exc:
        raise BotError(f"cannot reach {settings.discord_api_url} ({type(exc).__name__})") from None
    if response.status_code == 401:
        raise BotError("Discord refused DISCORD_BOT_TOKEN: check it in the developer portal")
    if response.status_code != 200:
        raise BotError(f"Discord answered HTTP {response.status_code}")
    return f"logged in as {response.json().get('username', '?')}"


async def diagnose(settings: Settings, *, seconds: float = 10.0) -> list[Check]:
    """Run every check that applies; never raise, never print a secret."""
    checks: list[tuple[str, Callable[[Settings, httpx.AsyncClient], Awaitable[str]]]] = [
        ("database", _database),
        ("keevx", _keevx),
    ]
    if settings.telegram_bot_token:
        checks.append(("telegram", _telegram))
    if settings.discord_bot_token:
        checks.append(("discord", _discord))
    results = [Check("configuration", True, _platforms(settings))]
    async with httpx.AsyncClient(timeout=seconds) as http:
        for name, check in checks:
            try:
                detail = await asyncio.wait_for(check(settings, http), seconds)
            except (BotError, OSError, TimeoutError, ValueError) as exc:
                results.append(Check(name, False, str(exc) or type(exc).__name__))
            else:
                results.append(Check(name, True, detail))
    if not settings.platforms:
        results[0] = Check(
            "configuration", False, "no platform: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN"
        )
    return results


def _platforms(settings: Settings) -> str:
    names = ", ".join(settings.platforms) or "none"
    web = f"web server on port {settings.port}" if settings.port is not None else "no web server"
    callbacks = "callbacks on" if settings.public_url else "callbacks off (no PUBLIC_URL)"
    return f"platforms: {names}; {web}; {callbacks}"
