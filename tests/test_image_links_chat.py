"""Image links pasted into chat, through the real Telegram adapter (issue 13, "Image links").

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

import pytest

import bot.jobs.links as links
from bot.jobs.safe_fetch import origin
from bot.keevx.sandbox import Sandbox
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.fakes.telegram import FakeTelegram
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
