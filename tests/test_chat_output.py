"""What the bot posts in chat can be neither abused nor refused (issue 10, points 10-12).

Through the real adapters and the loopback fakes, which refuse what the real APIs
refuse (Telegram: texts over 4096, captions over 1024; Discord: content over 2000,
code 50035) and record whom each Discord message notified:

- a prompt's markdown, links and mentions show as typed in the bot's Discord
  messages, and a post notifies the requester and nobody else;
- a refusal repeating a huge option value still reaches the user on both platforms;
- album parts arriving after their album became a job are remembered within bounds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
from telegram import Bot as TelegramBot
from telegram import Message
from telegram.error import BadRequest

from adapters.telegram import render
from adapters.telegram.albums import MAX_PARTS, AlbumCollector
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.settings import Settings
from storage.memory import MemoryJobStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.test_discord_adapter import OVER, Bot, png, running_bot, slash_video
from tests.test_telegram_adapter import PHOTO, TOKEN, jobs_of, running, until

PLAIN_TOKEN = "4242:unprotected"  # for a bare PTB Bot, which logs its URL (token included)
D_USER = FakeDiscord.USER_ID
VICTIM = FakeDiscord.OTHER_ID
BOT_ID = FakeDiscord.BOT_ID
T_USER = 1001

HOSTILE = (
    f"waves <@123> <@{VICTIM}> @everyone [x](https://evil.example)\n"
    "# Claim your refund [here](https://evil.example/refund)"
)


@pytest.fixture
async def dfake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running_fake:
        yield running_fake
        assert not running_fake.unknown, running_fake.unknown


@pytest.fixture
async def dc(settings: Settings, dfake: FakeDiscord, sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with running_bot(settings, dfake, sandbox) as bot:
        yield bot


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def bare_bot() -> AsyncIterator[tuple[FakeTelegram, TelegramBot]]:
    """A fake and a PTB Bot on it, without the adapter (nor its log redaction)."""
    async with (
        FakeTelegram(PLAIN_TOKEN) as server,
        TelegramBot(
            PLAIN_TOKEN, base_url=server.base_url, base_file_url=server.base_file_url
        ) as bot,
    ):
        yield server, bot


def _posted(fake: FakeDiscord) -> list[tuple[str, dict[str, Any]]]:
    """Every content the bot sent or edited (REST payload or interaction callback data)."""
    out = []
    for call in fake.calls:
        if call.status >= 300 or not isinstance(call.json, dict):
            continue
        payload = call.json.get("data") if call.path.startswith("/interactions/") else call.json
        if isinstance(payload, dict) and isinstance(payload.get("content"), str):
            out.append((payload["content"], payload))
    return out


def _replies(fake: FakeDiscord, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The bot's stored messages answering ``message``."""
    return [
        m
        for m in fake.messages.values()
        if m.get("_bot")
        and str((m.get("message_reference") or {}).get("message_id")) == message["id"]
    ]


def _assert_shown_as_typed(content: str) -> None:
    """The hostile prompt cannot add links, headings or mentions to ``content``."""
    assert "[x](https://evil.example)" not in content
    assert "[here](https://evil.example/refund)" not in content
    assert r"\[x\](https://evil.example)" in content  # still there, as text
    assert "<@123>" not in content and f"<@{VICTIM}>" not in content
    assert "@everyone" not in content
    lines = content.split("\n")
    assert not any(line.startswith("#") for line in lines)
    quoted = [line for line in lines if line.startswith("> ")]
    assert len(quoted) == 2 and quoted[1].startswith(r"> \# Claim")  # both lines stay quoted


# -- Discord: prompt injection ---------------------------------------------------------------


async def test_discord_prompt_cannot_post_links_or_ping_through_a_mention_job(dc: Bot) -> None:
    """Posted with the bot token (a mention job): escaped, and only the requester pinged."""
    fake = dc.fake
    message = fake.message(
        content=f"<@{BOT_ID}> {HOSTILE}",
        author=D_USER,
        mention_bot=True,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [job] = await dc.until(lambda: dc.jobs())
    job = await dc.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.prompt == HOSTILE  # Keevx gets the prompt as typed

    posts = _replies(fake, message)
    assert len(posts) == 2  # the status message and the video
    for post in posts:
        _assert_shown_as_typed(post["content"])
        allowed = post["_allowed_mentions"]
        assert allowed["parse"] == [] and allowed["users"] == [D_USER]
        assert not allowed.get("replied_user")  # the reply itself pings no one
        assert fake.pinged(post["id"]) == {str(D_USER)}
    for content, _ in _posted(fake):  # the status edits too
        if "**Job" in content:
            _assert_shown_as_typed(content)


async def test_discord_prompt_cannot_post_links_or_ping_through_an_interaction(dc: Bot) -> None:
    """Posted through the interaction (a slash job): escaped, and nobody pinged."""
    fake = dc.fake
    await slash_video(dc, prompt=HOSTILE)
    [job] = await dc.until(lambda: dc.jobs())
    job = await dc.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    shown = [(c, p) for c, p in _posted(fake) if "**Job" in c]
    assert shown
    for content, payload in shown:
        _assert_shown_as_typed(content)
        assert payload["allowed_mentions"]["parse"] == []
        assert not payload["allowed_mentions"].get("users")
    assert all(not fake.pinged(m["id"]) for m in fake.messages.values() if m.get("_bot"))


async def test_discord_refusal_repeating_a_mention_pings_nobody(dc: Bot) -> None:
    """A refusal echoes the bad value; ``<@victim>`` in it must not notify the victim."""
    fake = dc.fake
    message = fake.message(
        content=f"<@{BOT_ID}> waves --ar <@{VICTIM}>",
        author=D_USER,
        mention_bot=True,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [reply] = await fake.wait_for(lambda: _replies(fake, message))
    assert "is not available" in reply["content"]
    assert fake.pinged(reply["id"]) == frozenset()
    assert not await dc.jobs()


async def test_discord_status_of_a_prompt_full_of_markdown_keeps_its_state(dc: Bot) -> None:
    """Escaping doubles a prompt of markdown characters; the status still fits and says
    what the job is doing."""
    fake = dc.fake
    await slash_video(dc, prompt="*_" * 500)
    [job] = await dc.until(lambda: dc.jobs())
    job = await dc.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error

    def statuses() -> list[str]:
        return [
            c.json["content"]
            for c in fake.find_calls("PATCH", f"/webhooks/{fake.APP_ID}/")
            if c.path.endswith("/@original") and c.status == 200
        ]

    await dc.until(lambda: any("done" in s for s in statuses()))  # edited right after delivery
    for content in statuses():
        assert len(content) <= 2000
        assert "started <t:" in content.rsplit("\n", 1)[-1]
        assert "*_*" not in content  # escaped, cut, never raw


# -- limits: long echoed values ---------------------------------------------------------------


async def test_telegram_refusal_echoing_a_huge_value_reaches_the_user(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    """The longest text Telegram delivers, almost all of it one option value: the refusal
    repeating it must still be under 4096 characters, or the user gets nothing."""
    async with running(settings, tg) as (core, _):
        photo = tg.photo_message(T_USER, None, photo=tg.add_file(PHOTO))
        await tg.wait_for("sendMessage")  # the hint for a bare photo
        command = "/video waves --ar "
        value = "x" * (4096 - len(command))
        tg.message(T_USER, text=command + value, reply_to=photo["message_id"])
        refusal = await tg.wait_for("sendMessage", where=lambda c: "--ar" in c["text"])
        assert not await jobs_of(core, T_USER)
    text = refusal["text"]
    assert len(text) <= 4096
    assert text.startswith("--ar xxxx") and text.endswith("use 16:9 or 9:16.")
    assert len(text) < 120  # the value is cut, not the sentence
    assert not [c for c in tg.calls if c.status == 400]


async def test_discord_refusal_echoing_a_huge_value_reaches_the_user(dc: Bot) -> None:
    """A Nitro user's message may hold 4000 characters; the refusal must fit in 2000."""
    fake = dc.fake
    message = fake.message(
        content=f"<@{BOT_ID}> waves --ar {'x' * 3950}",
        author=D_USER,
        mention_bot=True,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [reply] = await fake.wait_for(lambda: _replies(fake, message))
    assert len(reply["content"]) <= 2000
    assert reply["content"].startswith("--ar xxxx")
    assert reply["content"].endswith("use 16:9 or 9:16.")
    assert not [c for c in fake.calls if c.status == 400]


async def test_the_fakes_refuse_what_the_platforms_refuse(
    dc: Bot, bare_bot: tuple[FakeTelegram, TelegramBot]
) -> None:
    """So that any path overflowing a limit fails its test, as it would fail in production."""
    channel = dc.adapter.client.get_partial_messageable(FakeDiscord.CHANNEL_ID)
    await channel.send("x" * 2000)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("x" * 2001)
    assert refused.value.status == 400 and refused.value.code == 50035

    _, bot = bare_bot
    await bot.send_message(T_USER, "é" * 4096)
    await bot.send_message(T_USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(T_USER, "x" * 4097)
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_photo(T_USER, PHOTO, caption="x" * 1025)
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(T_USER, "<b>cut", parse_mode="HTML")


async def test_telegram_html_is_cut_without_breaking_it(
    bare_bot: tuple[FakeTelegram, TelegramBot],
) -> None:
    """The send-boundary cut keeps tags and entities whole and closes what it leaves open,
    so Telegram (here the fake's parser) takes the result."""
    _, bot = bare_bot
    long_html = "<b>" + "a &amp; b " * 600 + "</b> <i>" + "é" * 2000 + "</i>"
    text = render.fit(long_html, render.TEXT_LIMIT, html=True)
    caption = render.fit(long_html, render.CAPTION_LIMIT, html=True)
    assert text.endswith("…</i>") and caption.endswith("…</b>")
    await bot.send_message(T_USER, text, parse_mode="HTML")
    await bot.send_photo(T_USER, PHOTO, caption, parse_mode="HTML")
    assert render.fit("short <b>text</b>", html=True) == "short <b>text</b>"


# -- albums ----------------------------------------------------------------------------------


async def test_late_album_parts_are_remembered_within_bounds(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    async with running(settings, tg) as (core, adapter):
        first = tg.album(T_USER, 2, "waves", photo=tg.add_file(PHOTO))
        group = first[0]["media_group_id"]
        await until(lambda: jobs_of(core, T_USER))
        for _ in range(800):  # the same media_group_id, long after the album became a job
            tg.photo_message(T_USER, None, media_group_id=group)
        await until(lambda: not tg.pending_updates, within=60)
        albums = adapter.router.albums
        assert len(await albums.album(T_USER, group)) == MAX_PARTS  # not 802
        assert len(await jobs_of(core, T_USER)) == 1


async def test_an_album_collects_at_most_ten_parts(
    bare_bot: tuple[FakeTelegram, TelegramBot],
) -> None:
    """Telegram albums hold at most 10 items: 800 parts under one id are not all kept."""
    fake, bot = bare_bot
    handed: list[list[Message]] = []

    async def on_album(parts: list[Message]) -> None:
        handed.append(parts)

    albums = AlbumCollector(
        MemoryJobStore(), on_album, bot=bot, now=lambda: datetime.now(UTC), window=0.2, cap=1.0
    )
    parts = [Message.de_json(d, bot) for d in fake.album(T_USER, 800, "many", queue=False)]
    for part in parts:
        await albums.add(part)
    group = parts[0].media_group_id or ""
    assert len(await albums.album(T_USER, group)) == MAX_PARTS
    await albums.close()
    [handed_over] = handed
    assert [p.message_id for p in handed_over] == [p.message_id for p in parts[:MAX_PARTS]]
