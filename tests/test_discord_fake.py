"""The fake Discord speaks well enough for the real discord.py client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands

from adapters.discord.endpoints import point_at
from tests.fakes.discord import FakeDiscord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        point_at(fake.api_url, fake.gateway_url)
        try:
            yield fake
        finally:
            point_at()
        assert not fake.unknown, fake.unknown


class _Client(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.seen: list[str] = []

        @self.tree.command(name="ping", description="Answer pong")
        async def ping(interaction: discord.Interaction, image: discord.Attachment) -> None:
            await interaction.response.defer(thinking=True)
            data = await image.read()
            self.seen.append(f"{image.filename}:{len(data)}")
            await interaction.followup.send(f"pong {len(data)}")

    async def setup_hook(self) -> None:
        guild = discord.Object(FakeDiscord.GUILD_ID)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)


async def test_real_client_logs_in_syncs_and_answers(fake: FakeDiscord) -> None:
    client = _Client()
    ready = asyncio.Event()
    client.event(_set_on_ready(ready))
    task = asyncio.create_task(client.start("fake-token"))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert client.user is not None and client.user.id == FakeDiscord.BOT_ID
        guild = client.get_guild(FakeDiscord.GUILD_ID)
        assert guild is not None and guild.get_channel(FakeDiscord.CHANNEL_ID) is not None
        assert guild.get_thread(FakeDiscord.THREAD_ID) is not None
        assert [c["name"] for c in fake.commands[FakeDiscord.GUILD_ID]] == ["ping"]

        att = fake.add_attachment("cat.png", b"x" * 1234)
        payload = await fake.push_interaction(fake.slash("ping", {}, attachments={"image": att}))
        token = payload["token"]
        await fake.wait_for(lambda: fake.find_calls("POST", f"/webhooks/{fake.APP_ID}/{token}"))
        callback = fake.find_calls("POST", f"/interactions/{payload['id']}/{token}/callback")
        assert callback[0].json["type"] == 5
        assert callback[0].query == {"with_response": "1"}
        assert client.seen == ["cat.png:1234"]
        sent = fake.find_calls("POST", f"/webhooks/{fake.APP_ID}/{token}")[0]
        assert sent.json["content"] == "pong 1234"
        assert not sent.authorized  # webhook calls go by the interaction token
        assert fake.find_calls("GET", "/users/@me")[0].authorized
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_expired_token_and_missing_permissions(fake: FakeDiscord) -> None:
    client = _Client()
    ready = asyncio.Event()
    client.event(_set_on_ready(ready))
    task = asyncio.create_task(client.start("fake-token"))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        forbidden = client.get_channel(FakeDiscord.FORBIDDEN_CHANNEL_ID)
        assert isinstance(forbidden, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as info:
            await forbidden.send("hi")
        assert info.value.code == 50013

        channel = client.get_channel(FakeDiscord.CHANNEL_ID)
        assert isinstance(channel, discord.TextChannel)
        fake.upload_limit = 10
        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send(file=discord.File(__file__))
        assert too_big.value.code == 40005
        msg = await channel.send("ok")
        await msg.edit(content="edited")
        assert fake.messages[msg.id]["content"] == "edited"
        await msg.delete()
        assert msg.id not in fake.messages

        payload = fake.slash("ping", {})
        fake.expire(payload["token"])
        webhook = discord.Webhook.partial(fake.APP_ID, payload["token"], client=client)
        await fake.push_interaction(payload)
        with pytest.raises(discord.HTTPException) as expired:
            await webhook.send("late")
        assert expired.value.code == 50027
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


def _set_on_ready(ready: asyncio.Event):  # type: ignore[no-untyped-def]
    async def on_ready() -> None:
        ready.set()

    return on_ready


async def test_client_resumes_after_the_gateway_drops(fake: FakeDiscord) -> None:
    client = _Client()
    ready = asyncio.Event()
    client.event(_set_on_ready(ready))
    task = asyncio.create_task(client.start("fake-token"))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await fake.drop_connection(4000)
        await fake.wait_ready()  # reconnected and RESUMEd at resume_gateway_url
        assert fake.connections == 2
        assert fake.gateway_ops.count(2) == 1 and fake.gateway_ops.count(6) == 1  # no re-IDENTIFY
        att = fake.add_attachment("cat.png", b"y" * 10)
        payload = await fake.push_interaction(fake.slash("ping", {}, attachments={"image": att}))
        await fake.wait_for(
            lambda: fake.find_calls("POST", f"/webhooks/{fake.APP_ID}/{payload['token']}")
        )
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    "command",
    [
        {"name": "Video", "description": "d", "type": 1},  # slash names are lowercase
        {"name": "video", "description": "d" * 101, "type": 1},
        {"name": "video", "description": "d", "type": 1, "name_localizations": {"xx": "v"}},
        {
            "name": "video",
            "description": "d",
            "type": 1,
            "options": [{"name": "a", "description": "d", "type": 3, "choices": [{"name": ""}]}],
        },
        {"name": "Make a video" * 3, "type": 3},
    ],
)
async def test_commands_discord_would_refuse_are_refused(
    fake: FakeDiscord, command: dict[str, object]
) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.api_url}/applications/{fake.APP_ID}/commands"
        async with http.put(url, json=[command]) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 50035
    assert None not in fake.commands
