"""Command sync policy and the error mapping seam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from adapters.discord.errors import token_expired, translate
from adapters.discord.translator import CatalogTranslator
from bot.errors import DeliveryError, RecipientGone, TooLarge
from bot.keevx.sandbox import Sandbox
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.test_discord_adapter import running_bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running:
        yield running
        assert not running.unknown, running.unknown


async def test_global_sync_only_when_the_commands_changed(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    async with running_bot(settings, fake, sandbox, guild_ids=()):
        pass
    assert len(fake.find_calls("PUT", f"/applications/{fake.APP_ID}/commands")) == 1
    assert {c["name"] for c in fake.commands[None]} == {
        "video",
        "jobs",
        "settings",
        "language",
        "stats",
        "help",
        "Make a video",
    }
    async with running_bot(settings, fake, sandbox, guild_ids=()):  # a restart, same commands
        pass
    assert len(fake.find_calls("PUT", f"/applications/{fake.APP_ID}/commands")) == 1
    assert not fake.find_calls("PUT", f"/applications/{fake.APP_ID}/guilds/")


async def test_global_sync_again_when_a_translation_changed(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(settings, fake, sandbox, guild_ids=()):
        pass
    translate = CatalogTranslator.translate

    async def corrected(self: CatalogTranslator, *args: Any) -> str | None:
        text = await translate(self, *args)  # as if a catalog's translation was corrected
        return text.replace("Keevx", "KEEVX") if text else text

    monkeypatch.setattr(CatalogTranslator, "translate", corrected)
    async with running_bot(settings, fake, sandbox, guild_ids=()):  # same commands, new words
        pass
    assert len(fake.find_calls("PUT", f"/applications/{fake.APP_ID}/commands")) == 2
    video = next(c for c in fake.commands[None] if c["name"] == "video")
    assert video["description_localizations"]["ru"] == "Превратите фото в видео с ИИ от KEEVX"


class _Response:
    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "x"


def _exc(cls: type[discord.HTTPException], status: int, code: int) -> discord.HTTPException:
    response: Any = _Response(status)
    return cls(response, {"code": code, "message": "m"})


@pytest.mark.parametrize(
    ("cls", "status", "code", "expected"),
    [
        (discord.HTTPException, 413, 40005, TooLarge),
        (discord.Forbidden, 403, 50013, RecipientGone),
        (discord.NotFound, 404, 10003, RecipientGone),
        (discord.DiscordServerError, 503, 0, DeliveryError),
        (discord.HTTPException, 429, 0, DeliveryError),
    ],
)
def test_discord_errors_map_to_delivery_errors(
    cls: type[discord.HTTPException], status: int, code: int, expected: type[DeliveryError]
) -> None:
    error = translate(_exc(cls, status, code), "result message")
    assert type(error) is expected
    assert str(status) in str(error) or "permissions" in str(error)


def test_expired_tokens_are_recognised() -> None:
    assert token_expired(_exc(discord.HTTPException, 401, 50027))
    assert token_expired(_exc(discord.NotFound, 404, 10015))
    assert not token_expired(_exc(discord.Forbidden, 403, 50013))
