"""Image links pasted into chat, through the real adapters (issue 13, "Image links").

A loopback image host serves good images and hostile answers (a redirect
loop, an endless body, a web page calling itself a JPEG, a trickle); the bot
fetches links itself and treats what comes like an upload, or refuses with a
sentence and submits nothing. The host is on 127.0.0.1, so the happy paths
set ``ALLOW_PRIVATE_IMAGE_URLS`` (``allow_private_image_urls``), and the
refusal of private addresses is checked without it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

import bot.jobs.links as links
from bot.jobs.safe_fetch import origin
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.test_discord_adapter import OVER, Bot, channel_posts, running_bot, webhook_posts
from tests.test_image_links import JPEG, MB, PNG, ImageHost
from tests.test_telegram_adapter import GROUP, TOKEN, USER, creates, final_job, jobs_of, running

PRIVATE = (
    "The link points into a private network, and I only fetch from public websites: "
    "put the image somewhere public or send the photo."
)


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    async with ImageHost() as running_host:
        yield running_host


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


def uploaded(sandbox: Sandbox) -> list[tuple[str, bytes]]:
    """What reached Keevx's upload endpoint: (content type, bytes), in order."""
    return [(u.content_type, u.path.read_bytes()) for u in sandbox.uploads.values()]


def never_shown_to_keevx(sandbox: Sandbox, host: ImageHost) -> None:
    """No request to Keevx carried the user's link (or the host's address at all)."""
    for call in sandbox.calls:
        assert host.url not in f"{call.path} {call.json} {call.headers}", call


# -- Telegram ------------------------------------------------------------------------------


async def test_a_link_in_a_private_text_is_fetched_like_a_photo(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, host: ImageHost
) -> None:
    async with running(settings, fake, allow_private_image_urls=True) as (core, _):
        text = f"waves roll in at sunset {host.link('cat.jpg')} --ar 9:16"
        request = fake.message(USER, text=text)
        video = await fake.wait_for("sendVideo", within=30)
        job = await final_job(core)
    assert job.status is JobStatus.DELIVERED
    assert video["reply_parameters"]["message_id"] == request["message_id"]
    assert job.request.prompt == "waves roll in at sunset"  # the link is not the prompt
    assert job.request.image_count == 1 and job.request.aspect_ratio == "9:16"
    assert host.hits == {"cat.jpg": 1}
    assert uploaded(sandbox) == [("image/jpeg", JPEG)]  # byte for byte, as an upload would be
    (create,) = creates(sandbox)
    assert create.json["image_url"].startswith(sandbox.base_url.split("/v1")[0])
    assert "http" not in create.json["prompt"]
    never_shown_to_keevx(sandbox, host)


async def test_a_caption_link_joins_the_photo_and_its_bytes_decide_the_type(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, host: ImageHost
) -> None:
    """Photo first, then the link (after three redirects); the PNG is labelled
    application/octet-stream by its server and still goes to Keevx as a PNG."""
    async with running(settings, fake, allow_private_image_urls=True) as (core, _):
        fake.photo_message(USER, f"two views <{host.link('hop/3')}> and {host.link('blue.png')}")
        await fake.wait_for("sendVideo", within=30)
        job = await final_job(core)
    assert job.status is JobStatus.DELIVERED and job.request.image_count == 3
    assert job.request.prompt == "two views and"
    assert [kind for kind, _ in uploaded(sandbox)] == ["image/jpeg", "image/jpeg", "image/png"]
    assert [data for _, data in uploaded(sandbox)][1:] == [JPEG, PNG]
    assert host.hits["cat.jpg"] == 1 and host.hits["hop/1"] == 1
    (create,) = creates(sandbox)
    assert len(create.json["reference_images"]) == 3
    never_shown_to_keevx(sandbox, host)


async def test_a_private_address_is_refused_without_the_operators_flag(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, host: ImageHost
) -> None:
    async with running(settings, fake) as (core, _):
        fake.message(USER, text=f"waves {host.link('cat.jpg')}")
        answer = await fake.wait_for("sendMessage")
        assert await jobs_of(core) == []
    assert answer["text"] == PRIVATE
    assert host.hits == {} and sandbox.calls == []  # not even connected to


async def test_a_redirect_into_the_private_network_is_refused(
    settings: Settings,
    sandbox: Sandbox,
    fake: FakeTelegram,
    host: ImageHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host passes as public (a trusted origin stands in for a public website);
    its redirect to a private address is checked again and refused."""
    async with ImageHost() as public:
        policy = dataclasses.replace(
            links.LINK_POLICY, trusted_origins=frozenset({origin(public.url)})
        )
        monkeypatch.setattr(links, "LINK_POLICY", policy)
        async with running(settings, fake) as (core, _):
            to = f"to/{host.url.rsplit(':', 1)[1]}"
            fake.message(USER, text=f"waves {public.link(to)}")
            answer = await fake.wait_for("sendMessage")
            assert await jobs_of(core) == []
        assert public.hits == {to: 1}
    assert answer["text"] == PRIVATE
    assert host.hits == {} and sandbox.calls == []


HOSTILE = [
    (
        "loop",
        "The link sends me on more than 3 times: paste the address the image finally opens at.",
    ),
    (
        "hop/4",
        "The link sends me on more than 3 times: paste the address the image finally opens at.",
    ),
    (
        "endless.jpg",
        "The link leads to a file over 20 MB: use a smaller image or send the photo.",
    ),
    (
        "page.jpg",
        "The link leads to a web page, not to an image: open the image itself and copy its "
        "address, or send the photo.",
    ),
    (
        "slow.jpg",
        "The link took longer than 2 seconds to download: try again later or send the photo.",
    ),
    (
        "gone.jpg",
        "The link leads nowhere: the website says there is nothing at that address.",
    ),
]


@pytest.mark.parametrize(("name", "sentence"), HOSTILE, ids=[n for n, _ in HOSTILE])
async def test_a_hostile_link_is_refused_with_a_sentence_and_nothing_is_submitted(
    settings: Settings,
    sandbox: Sandbox,
    fake: FakeTelegram,
    host: ImageHost,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    sentence: str,
) -> None:
    monkeypatch.setattr(links, "LINK_POLICY", dataclasses.replace(links.LINK_POLICY, deadline=2))
    async with running(settings, fake, allow_private_image_urls=True) as (core, _):
        fake.photo_message(USER, f"waves {host.link(name)}")
        answer = await fake.wait_for("sendMessage", within=30)
        assert await jobs_of(core) == []
    assert answer["text"] == sentence
    assert sandbox.calls == []  # not even the photo was uploaded
    assert "http" not in answer["text"] and "404" not in answer["text"]
    if name == "endless.jpg":
        await asyncio.wait_for(host.done[name].wait(), 30)
        assert host.sent[name] < 40 * MB  # the bot stopped reading at 20 MB and hung up
    if name == "loop":
        assert host.hits["loop"] == 4  # the first request and three redirects


async def test_too_many_links_are_refused_before_any_is_fetched(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, host: ImageHost
) -> None:
    async with running(settings, fake, allow_private_image_urls=True) as (core, _):
        many = " ".join(host.link("cat.jpg") for _ in range(8))
        fake.message(USER, text=f"a slideshow {many}")
        answer = await fake.wait_for("sendMessage")
        assert await jobs_of(core) == []
    assert answer["text"] == "You sent 8 images: I can use at most 7."
    assert host.hits == {} and sandbox.calls == []


async def test_in_groups_only_messages_to_the_bot_fetch_links(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, host: ImageHost
) -> None:
    async with running(settings, fake, allow_private_image_urls=True) as (core, _):
        fake.message(GROUP, text=f"look at this {host.link('blue.png')}")  # chat among members
        fake.message(GROUP, text=f"@keevx_test_bot make it snow {host.link('cat.jpg')}")
        await fake.wait_for("sendVideo", within=30)
        job = await final_job(core)
        assert len(await jobs_of(core)) == 1
    assert job.request.prompt == "make it snow" and job.target.chat_id == str(GROUP)
    assert host.hits == {"cat.jpg": 1}


# -- Discord -------------------------------------------------------------------------------


@pytest.fixture
async def dc(settings: Settings, sandbox: Sandbox) -> AsyncIterator[Bot]:
    allowed = dataclasses.replace(settings, allow_private_image_urls=True)
    async with FakeDiscord() as fake_discord, running_bot(allowed, fake_discord, sandbox) as bot:
        yield bot
        assert not fake_discord.unknown, fake_discord.unknown


def replies_to(fake: FakeDiscord, message: dict[str, Any]) -> list[Any]:
    return [
        c
        for c in channel_posts(fake)
        if str((c.json.get("message_reference") or {}).get("message_id")) == message["id"]
    ]


async def test_a_slash_command_may_give_its_photo_by_link_alone(dc: Bot, host: ImageHost) -> None:
    fake = dc.fake
    payload = await fake.push_interaction(
        fake.slash("video", {"prompt": f"a blue sky {host.link('blue.png')} --duration 6"})
    )
    [job] = await dc.until(lambda: dc.jobs(), 30)
    job = await dc.status_of(job.id, *OVER, within=30)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.prompt == "a blue sky" and job.request.image_count == 1
    assert webhook_posts(fake, payload["token"])  # the video came through the interaction
    assert uploaded(dc.sandbox) == [("image/png", PNG)]
    never_shown_to_keevx(dc.sandbox, host)


async def test_a_mention_with_a_link_makes_a_job(dc: Bot, host: ImageHost) -> None:
    fake = dc.fake
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves <{host.link('cat.jpg')}>", author=fake.USER_ID,
        mention_bot=True,
    )  # fmt: skip
    await fake.push_message(message)
    [job] = await dc.until(lambda: dc.jobs(), 30)
    job = await dc.status_of(job.id, *OVER, within=30)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.prompt == "waves" and job.target.reply_to == message["id"]
    assert uploaded(dc.sandbox) == [("image/jpeg", JPEG)]


async def test_a_refused_link_in_a_mention_is_answered_and_makes_no_job(
    dc: Bot, host: ImageHost
) -> None:
    fake = dc.fake
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves {host.link('page.jpg')}", author=fake.USER_ID,
        mention_bot=True, attachments=[fake.add_attachment("a.png", PNG)],
    )  # fmt: skip
    await fake.push_message(message)
    [answer] = await fake.wait_for(lambda: replies_to(fake, message), 30)
    assert answer.json["content"] == (
        "The link leads to a web page, not to an image: open the image itself and copy its "
        "address, or send the photo."
    )
    assert await dc.jobs() == [] and dc.sandbox.calls == []


async def test_a_mention_without_an_image_gets_a_hint(dc: Bot) -> None:
    fake = dc.fake
    thanks = fake.message(content="thanks!", author=fake.USER_ID, mention_bot=True)  # reply ping
    await fake.push_message(thanks)
    asking = fake.message(
        content=f"<@{fake.BOT_ID}> make a video", author=fake.USER_ID, mention_bot=True
    )
    await fake.push_message(asking)
    [hint] = await fake.wait_for(lambda: replies_to(fake, asking), 30)
    text = (
        "Attach a photo (or paste a link to one) and say what should happen, e.g. "
        f"<@{fake.BOT_ID}> waves at sunset --ar 9:16. /video works too, and so does "
        '"Make a video" in a message\'s menu (Apps).'
    )
    assert hint.json["content"] == text
    [posted] = [m for m in fake.channel_messages() if m["content"] == text]
    assert posted["_pinged"] == []  # naming the bot pings nobody
    assert replies_to(fake, thanks) == []  # a reply that only pings the bot gets no hint
    assert await dc.jobs() == []


def replying(fake: FakeDiscord, message: dict[str, Any], to: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a reply to ``to``, as Discord delivers it (with the replied message)."""
    message.update(
        type=19,
        message_reference={"message_id": to["id"], "channel_id": to["channel_id"]},
        referenced_message=to,
    )
    return message


async def test_a_mention_replying_to_photos_uses_those_photos(dc: Bot) -> None:
    fake = dc.fake
    photos = fake.message(
        content="our trip", author=fake.USER_ID + 1,
        attachments=[fake.add_attachment("a.png", PNG), fake.add_attachment("b.jpg", JPEG)],
    )  # fmt: skip
    asking = fake.message(
        content=f"<@{fake.BOT_ID}> a slow pan --model KL", author=fake.USER_ID, mention_bot=True
    )
    await fake.push_message(replying(fake, asking, photos))
    [job] = await dc.until(lambda: dc.jobs(), 30)
    job = await dc.status_of(job.id, *OVER, within=30)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.image_count == 2 and job.request.prompt == "a slow pan"
    assert job.target.reply_to == asking["id"]
    assert [data for _, data in uploaded(dc.sandbox)] == [PNG, JPEG]


async def test_a_mention_replying_to_a_message_without_photos_says_so(dc: Bot) -> None:
    fake = dc.fake
    words = fake.message(content="just words", author=fake.USER_ID + 1)
    asking = fake.message(
        content=f"<@{fake.BOT_ID}> animate this", author=fake.USER_ID, mention_bot=True
    )
    await fake.push_message(replying(fake, asking, words))
    [hint] = await fake.wait_for(lambda: replies_to(fake, asking), 30)
    assert hint.json["content"].startswith("I see no photo in the message you replied to.")
    assert await dc.jobs() == []
